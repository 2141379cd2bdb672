"""``mlapp``: one click group per domain; dvc.yaml, the Makefile, workflows and tests call these.

    mlapp pipeline validate|split|train|evaluate|...   the DVC stages and MLflow bookkeeping
    mlapp report run|gate|comment                       the pull-request report and its gate
    mlapp serving serve|bento|smoke                     the BentoML service
    mlapp delivery deploy|promote|rollback|...          environments on the deploy branch
    mlapp monitor run|metrics|retrain-*                 drift checks and the retraining PR
    mlapp template init|schema                          rename the template, draft schema.py

Options default to params.yaml (read once, through mlapp.params); an option only overrides.

Exit codes: 0 success; 1 a command's documented "no" (gate failed, retraining recommended,
smoke test failed, rule findings); 2 an error: bad usage or params (one line), a failed
external command (one line with its stderr), or an unexpected exception (with its traceback);
130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import io
import os
import sys
import traceback
from pathlib import Path

import click

from mlapp.cli import delivery, monitor, pipeline, report, serving, template
from mlapp.cli.common import FileOption, Project
from mlapp.errors import UserError, interrupted, out_of_memory, out_of_memory_line, redact

EXIT_ERROR = 2  # click's own code for usage errors; every error shares it
GROUPS = (pipeline.group, report.group, serving.group, delivery.group, monitor.group, template.group)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--params",
    "params_path",
    type=FileOption,
    default=Path("params.yaml"),
    show_default=True,
    help="params.yaml to read.",
)
@click.pass_context
def cli(ctx: click.Context, params_path: Path) -> None:
    """GitOps ML template: pipeline stages, report, serving, delivery, monitoring."""
    ctx.obj = Project(params_path)


for _group in GROUPS:
    cli.add_command(_group)


def command_tree(root: click.Group = cli) -> dict[str, set[str] | None]:
    """Each command of ``mlapp`` and, for a group, the names of its subcommands."""
    return {
        name: (set(command.commands) if isinstance(command, click.Group) else None)
        for name, command in root.commands.items()
    }


def main() -> None:
    # MLflow 3 sends usage data unless told not to (it decides when imported, so before any command
    # imports it; DVC's analytics and BentoML's are off too). A user's own setting wins.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    try:
        # Not standalone: click's would end a Ctrl-C with "Aborted!" and exit 1, a documented "no".
        code = cli.main(standalone_mode=False)
    except click.ClickException as exc:  # a usage error: shown as click shows it, exit 2
        shown = io.StringIO()  # it may quote a URL given with its password: shown redacted
        exc.show(file=shown)
        click.echo(redact(shown.getvalue()), err=True, nl=False)
        sys.exit(exc.exit_code)
    except click.Abort:  # Ctrl-C (click's word for KeyboardInterrupt)
        interrupted()
    except UserError as exc:  # the user must fix something: one clear line
        click.echo(f"error: {redact(str(exc))}", err=True)
        sys.exit(EXIT_ERROR)
    except Exception as exc:  # a bug or a broken environment: the traceback is what helps
        if (said := out_of_memory(exc)) is None:
            traceback.print_exc()
        else:  # not a bug: the machine, or the limit this process runs under
            click.echo(out_of_memory_line(said), err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(code if isinstance(code, int) else 0)  # --help returns 0 ...; a command returns None
