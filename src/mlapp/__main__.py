"""``python -m mlapp`` and the ``mlapp`` console script.

Importing the commands takes a second or more (pandas, MLflow, BentoML) before the CLI's own
Ctrl-C handling starts: a Ctrl-C in that time printed Python's traceback. Here it ends as any
other does, one line and exit 130: this module imports nothing before its ``try``, so only what
Python runs before this file (its startup, ``site``) stays Python's.
"""


def main() -> None:
    try:
        from mlapp.cli import main as run  # the commands, and all they import

        run()
    except KeyboardInterrupt:  # outside click's handling: while importing, or around it
        from mlapp.errors import interrupted  # again, if the interrupt came while it imported

        interrupted()


if __name__ == "__main__":
    main()
