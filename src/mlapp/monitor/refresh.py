"""Refresh the training data from a batch and move its DVC pointer.

``monitor.retrain.refresh`` says how, depending on where the team's data comes from:

- ``append``: the batch's labeled rows are added to ``data.raw`` (a row whose id already
  exists replaces the old one), then ``dvc add`` records the new version;
- ``replace``: the batch is a full, labeled snapshot and becomes ``data.raw``;
- ``import``: ``data.raw`` is a ``dvc import-url``/``dvc import`` of the source; ``dvc update``
  fetches its latest version (the batch served only for the drift check).

Rows are validated against the full raw schema before anything is written, so a batch
that the pipeline would reject never reaches the data pointer.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlapp import proc
from mlapp.cell_times import has_offset
from mlapp.labels import label_text
from mlapp.lineage import read_pointer
from mlapp.monitor.batch import as_classes, read_source
from mlapp.monitor.rows import MonitorError
from mlapp.params import Params
from mlapp.raw_table import read_raw
from mlapp.sources import is_parquet
from mlapp.stages.validate import ValidationFailed, validate_table

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"  # the raw table's event-time text (see sample_data.write)


def dvc(*args: str | Path, check: bool = True) -> str:
    """DVC from this very environment; a failure is a ``CommandError`` with DVC's own message."""
    return proc.run([*proc.tool("dvc"), *args], check=check).stdout.strip()


def tracking_file(raw: Path) -> Path:
    """The ``.dvc`` file that tracks ``raw``: its own, or one of a folder holding it."""
    for path in (raw, *raw.parents):
        candidate = Path(f"{path}.dvc")
        if path != Path() and candidate.is_file():
            return candidate
    raise MonitorError(f"no .dvc file tracks {raw} (expected e.g. data.dvc from `uv run dvc add data`)")


def _tracked_out(tracking: Path) -> tuple[Path, bool]:
    """The path a .dvc file tracks, and whether it is an import (has a source to update from)."""
    pointer = read_pointer(tracking.read_text())
    if pointer is None:
        return tracking.parent / tracking.stem, False
    return tracking.parent / (pointer.path or tracking.stem), pointer.imported


def labeled_rows(source: str, params: Params) -> pd.DataFrame:
    """The batch's rows whose label is known, typed and checked against the raw schema."""
    _, frame, _ = read_source(source, params)
    label = params.data.label
    if label not in frame.columns:
        raise MonitorError(f"{source} has no '{label}' column: retraining needs labeled rows")
    frame = frame[frame[label].notna()].reset_index(drop=True)
    try:
        return validate_table(frame, params)[0]
    except ValidationFailed as exc:
        lines = "\n".join(f"  - {p.line()}" for p in exc.problems)
        raise MonitorError(f"labeled rows of {source} cannot become training data:\n{lines}") from exc


def _as_raw_text(frame: pd.DataFrame, params: Params, zoned: bool = False) -> pd.DataFrame:
    """Typed rows written the way the raw CSV writes them, so old rows stay byte-identical.
    ``zoned``: the table's event times carry a UTC offset, so the new ones (validated into UTC)
    get one too: validate refuses a column with an offset on some values only."""
    out = frame.copy()
    if time := params.data.time_column:
        fraction = ".%f" if (out[time].dt.microsecond != 0).any() else ""  # not cut to the second
        out[time] = out[time].dt.strftime(TIME_FORMAT + fraction + ("+00:00" if zoned else ""))
    # str(True) == "True", str(84.98) == "84.98": the same text pandas writes for typed columns,
    # "84,98" with data.decimal ',' (pandas' to_csv(decimal=) too).
    point = params.data.decimal
    return out.astype(object).map(
        lambda v: None if pd.isna(v) else str(v).replace(".", point) if isinstance(v, float) else str(v)
    )


def _as_stored(new: pd.DataFrame, old: pd.DataFrame, params: Params) -> pd.DataFrame:
    """Validated rows in the types a Parquet table stores: its id and class label as it holds them
    (an int id, a bool or 0/1 label: validated, they are text) and its event times in its time zone
    (validated: UTC wall clock). A column of two types is no Parquet column: pyarrow refused it."""
    out = new.copy()
    named = [params.data.id_column, *([params.data.label] if params.task != "regression" else [])]
    for name in [n for n in named if n and n in old.columns]:
        kind = old[name].dtype
        if pd.api.types.is_bool_dtype(kind):
            out[name] = out[name].map({"true": True, "false": False}).astype(kind)
        elif pd.api.types.is_numeric_dtype(kind):
            out[name] = pd.to_numeric(out[name]).astype(kind)
        elif pd.api.types.infer_dtype(old[name], skipna=True) == "integer":  # ints with a gap (object)
            out[name] = pd.to_numeric(out[name]).astype(object)
    time = params.data.time_column
    if time and isinstance(zone := old[time].dtype, pd.DatetimeTZDtype):
        out[time] = out[time].dt.tz_localize("UTC").dt.tz_convert(zone.tz).astype(zone)  # its unit too
    return out


def merged_table(params: Params, new: pd.DataFrame, mode: str) -> pd.DataFrame:
    raw = params.data.raw
    if mode == "replace":
        return new if is_parquet(raw) else _as_raw_text(new, params)
    sep = params.data.separator()
    old = read_raw(raw, params.data.missing_values, params.validate_.chunk_rows, sep)
    label = params.data.label
    if params.task != "regression":  # as the table spells its classes: 1.0 is 1, a yes/no its 1/0
        classes = sorted(label_text(old[label]).dropna().unique())
        new = new.assign(**{label: as_classes(new[label], classes)})
    if is_parquet(raw):
        new = _as_stored(new, old, params)
    else:
        time = params.data.time_column
        zoned = bool(time and has_offset(old[time]).any())
        new = _as_raw_text(new, params, zoned)
    new = new.reindex(columns=old.columns)  # data.ignore_columns: validate left them out, blank here
    key = params.data.id_column
    if key is None:  # no id: a row identical to one the table holds is the same record
        return pd.concat([old, new[list(old.columns)]], ignore_index=True).drop_duplicates(ignore_index=True)
    # Same id again: the newer record replaces the older one in place, so a batch the
    # table already holds leaves the file (and its DVC hash) unchanged.
    known = new[key].isin(old[key])
    updated = old.set_index(key)
    updated.loc[new.loc[known, key], :] = new[known].set_index(key)[updated.columns].to_numpy()
    return pd.concat([updated.reset_index(), new[~known]], ignore_index=True)[list(old.columns)]


def _write(table: pd.DataFrame, raw: Path, sep: str) -> None:
    if is_parquet(raw):
        table.to_parquet(raw, index=False)
    else:  # as it was read: validate reads data.raw with data.csv_separator (a .tsv with tabs)
        table.to_csv(raw, index=False, sep=sep)


def refresh(params: Params, source: str, new: pd.DataFrame | None = None) -> Path:
    """Bring ``data.raw`` up to date from ``source`` (its ``labeled_rows``, unless already read:
    ``new``); returns the .dvc file that changed."""
    mode = params.monitor.retrain.refresh
    raw = params.data.raw
    tracking = tracking_file(raw)
    out, is_import = _tracked_out(tracking)
    if mode == "import":
        if not is_import:
            raise MonitorError(
                f"monitor.retrain.refresh is 'import' but {tracking} is not a `dvc import-url`/`dvc import`"
            )
        dvc("update", tracking)
        return tracking
    if is_import:
        raise MonitorError(f"{tracking} is a DVC import: set monitor.retrain.refresh to 'import'")
    new = labeled_rows(source, params) if new is None else new
    if mode == "append" and not raw.is_file():
        dvc("pull", tracking)  # a fresh CI checkout has the pointer, not the data
    _write(merged_table(params, new, mode), raw, params.data.separator())
    dvc("add", out)
    return tracking
