"""Pipeline stages, one module each: a core ``run(params, ...)``; its command lives in cli/pipeline.py.

Adding a stage, say ``select`` (rows by date) between validate and split, each part runnable alone:

1. ``stages/select.py``: ``run(params, *, source, output) -> int`` (0; 1 for a documented "no"),
   reading and writing with ``mlapp.tables`` (``read_frame``, ``write_frame``).
2. Its section in params.yaml and a ``Section`` class for it (``params_data.py`` for the table's
   stages) that ``Params`` in params.py names: sections refuse unknown keys.
3. ``mlapp pipeline select`` in ``cli/pipeline.py`` (``--input``/``--output`` defaulting to params),
   and split's default input (and ``_outputs_named``'s one-off check) moved to ``select.output``.
4. dvc.yaml: the stage (``cmd: mlapp pipeline select ...``, ``params:`` the sections it reads,
   ``outs:``) and split's ``--input`` and dep moved to its output; for ``deps``,
   ``pytest tests/pipeline/test_stage_deps.py -k select`` lists the modules it imports.
5. ``tests/conftest.py``'s ``_make_reference`` runs the stages in process for the fast tests:
   call it there too. Then ``make run`` (it relocks dvc.lock: commit it).

A derived feature column is not a stage's: the service, the batch scorer and the monitor take
records of FEATURES' columns and validate them against FEATURES, so a column a stage added would
be missing there. Derive it in the exported table (and name it in FEATURES); stages select,
split and fit rows.
"""
