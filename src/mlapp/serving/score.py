"""Batch (offline) scoring: ``mlapp serving score --input <csv|parquet|URL> --output <parquet>``.

The same model and the same rules as the service, for a file instead of a request:

- input: CSV, TSV (tab-separated) or Parquet (by suffix, or ``--format``; a CSV or TSV may be
  compressed, ``.gz``, ``.bz2``, ``.xz``, as data.raw may), a local path or a URL (``http(s)://`` streamed; ``s3://``,
  ``gs://``... through fsspec); missing feature columns are an error before anything is scored
  (a column spelt close to one named as its likely misspelling); other columns (an id, a time,
  the label) are read past and named on stderr, or copied beside the scores (``--keep``);
- read ``serving.score_chunk_rows`` rows at a time (CSV with training's reader and
  ``data.missing_values``, Parquet with pyarrow's) and write each chunk before the next is
  read, so memory is bounded by the chunk, not the file;
- each chunk is checked by the training schema (``mlapp.schema.feature_schema``, pandera:
  types, ranges, categories, nullability); valid rows are predicted by ``Model.scores``
  (the pipeline's own path), invalid rows are **never dropped silently**: they go to a
  rejects file next to the output (``<output stem>.rejects.parquet``: one row per failing cell
  and rule, by row and column: row number, column, the check in validate's words, the value as
  read, null when missing) and the command exits 1 after writing both files;
- the output holds per row: ``row`` (0-based position in the input), the id column if the
  input has it, each ``--keep`` column (as the file holds it), the task's fields (binary
  ``probability``, ``label``; multiclass ``label``, ``probability_<class>``...; regression
  ``prediction``), ``model_version``; lineage (model
  sha256, git commit, data hash, input, time) is in the Parquet file's key-value metadata
  (``mlapp.*``).
"""

from __future__ import annotations

if __name__ == "__main__":  # before the imports (pandas, xgboost): a Ctrl-C in them is one line, exit 130
    from mlapp.errors import run_main

    run_main("mlapp.serving.score")

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from mlapp.cell_text import missing_clash
from mlapp.errors import UserError, redact, writing
from mlapp.model import load
from mlapp.outputs import float_id_rule, id_clash, scored_columns
from mlapp.serving import lineage, settings
from mlapp.serving.output_types import answer_types, kept_types, kept_values, whole_numbers_read_exactly
from mlapp.serving.rejects import split_valid
from mlapp.serving.score_input import FORMATS, batches, carried, input_format
from mlapp.sources import is_parquet, refuse_overwriting
from mlapp.tables import FrameParts

KEEP_HELP = "copy this input column into the output beside the scores (repeatable; data.id_column always is)"


@dataclass(frozen=True)
class Summary:
    rows: int
    scored: int
    rejected: int
    seconds: float
    output: Path
    rejects: Path | None
    unused: tuple[str, ...] = ()  # the input's columns neither scored nor copied into the output

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def score(
    source: str,
    output: Path,
    model_dir: Path,
    chunk_rows: int,
    lineage_file: Path,
    missing: list[str],  # data.missing_values
    sep: str,  # data.csv_separator
    decimal: str,  # data.decimal
    id_column: str | None = None,
    fmt: str | None = None,
    keep: Sequence[str] = (),
) -> Summary:
    if not is_parquet(output):  # a predictions.csv holding Parquet bytes reads as garbage in a spreadsheet
        raise UserError(
            f"--output {output}: the predictions are written as Parquet: name the file .parquet (or .pq)"
        )
    model = load(model_dir)
    for feature, levels in model.spec.categories.items():  # read as missing, a level never scores
        spelt_missing = missing_clash(f"the model's categories.{feature}", levels, missing)
        if spelt_missing:
            raise UserError(spelt_missing)
    empty = (0, len(model.spec.classes)) if model.task == "multiclass" else 0
    if clash := id_clash(id_column, model.task, model.spec.classes):  # validate refuses it before training
        raise UserError(f"data.id_column {id_column!r}: {clash}")
    facts = lineage.resolve(model_dir, lineage_file)  # git in a checkout, the baked file in an image
    meta = {f"mlapp.{k}": str(v) for k, v in facts.model_dump().items()} | {
        "mlapp.input": redact(source),  # read by whoever reads the predictions: no signature
        "mlapp.scored_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    rejects_path = output.with_name(f"{output.stem}.rejects.parquet")  # p.pq too: p.rejects.parquet
    refuse_overwriting(source, output, rejects_path)
    rows = scored = rejected = 0
    copied: list[str] | None = None
    types: dict[str, pa.DataType] = {}  # the copied columns', the input's
    unused: tuple[str, ...] = ()
    start = time.perf_counter()
    # Both files are written next to their names and renamed into place once every row is
    # scored: a run that fails or is interrupted leaves the previous output and rejects as they were.
    with FrameParts(output, meta) as predictions, FrameParts(rejects_path, meta) as refused:
        # Each chunk indexed by its rows' 0-based positions in the file, as both readers number them.
        for frame, schema in batches(source, input_format(source, fmt), chunk_rows, missing, sep):
            valid, failures = split_valid(frame, decimal, missing)  # missing features: refused first
            if copied is None:  # every chunk has the file's columns
                written = scored_columns(model.task, model.spec.classes)
                copied, unused = carried(list(frame.columns), keep, id_column, written)
                types = kept_types(copied, schema)
                if id_column in types and pa.types.is_floating(types[id_column]):  # as validate refuses it
                    raise UserError(
                        f"{source}: column {id_column!r} (data.id_column): {float_id_rule(id_column)}"
                    )
                predictions.types = types | answer_types(model)
                predictions.metadata = meta | whole_numbers_read_exactly(types)  # pandas' read of an id
            out = pd.DataFrame({"row": valid.index.to_numpy(dtype=np.int64)})
            for kept in copied:  # its dtype kept: a chunk of rejects only is no null type
                out[kept] = kept_values(frame.loc[valid.index, kept], types.get(kept)).reset_index(drop=True)
            scores = model.scores(valid) if len(valid) else np.empty(empty)
            # The task's fields: probability, label | label, probability_<class>... | prediction.
            for name, column in model.outputs(scores).items():
                out[name] = column.to_numpy()
            out["model_version"] = model.version
            with writing(output):
                predictions.write(out.set_axis(valid.index))  # numbered by input row: an error names them
            if len(failures):
                with writing(rejects_path):
                    refused.write(failures.rename(columns={"index": "row"}))
            rows += len(frame)
            scored += len(valid)
            rejected += len(frame) - len(valid)
        with writing(output):  # both readers give a file without rows as one empty chunk: written
            predictions.commit()
            if refused.writer is None:
                rejects_path.unlink(missing_ok=True)  # an earlier run's rejects are not this run's
            else:
                refused.commit()
    seconds = time.perf_counter() - start
    return Summary(rows, scored, rejected, seconds, output, rejects_path if rejected else None, unused)


def run(
    params_path: Path | None,
    source: str,
    output: Path,
    model_dir: Path | None = None,
    chunk_rows: int | None = None,
    fmt: str | None = None,
    keep: Sequence[str] = (),
) -> Summary:
    """``score`` with the defaults of params.yaml (``serving.score_chunk_rows``, ``train.model_dir``).

    Without ``params_path``: the service's settings (``./params.yaml``, or the bento's own).
    """
    config = settings.read_config(params_path)
    return score(
        source,
        output,
        model_dir or config.model_dir,
        chunk_rows or config.serving.score_chunk_rows,
        config.serving.lineage,
        config.missing_values,
        config.csv_separator,
        config.decimal,
        id_column=config.id_column,
        fmt=fmt,
        keep=keep,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m mlapp.serving.score``: the same, in the serving image (which has no CLI)."""
    parser = argparse.ArgumentParser(
        prog="python -m mlapp.serving.score", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--input", required=True, help="CSV, TSV or Parquet: a path or a URL")
    parser.add_argument("--output", required=True, type=Path, help="Parquet file for the predictions")
    parser.add_argument("--format", choices=FORMATS, help="input format [default: from the name]")
    parser.add_argument("--keep", action="append", default=[], metavar="COLUMN", help=KEEP_HELP)
    parser.add_argument(
        "--params", type=Path, help="params.yaml to read [default: ./params.yaml, else the bento's settings]"
    )
    args = parser.parse_args(argv)
    try:
        summary = run(args.params, args.input, args.output, fmt=args.format, keep=args.keep)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(describe(summary))
    for line in notes(summary):
        print(line, file=sys.stderr)
    return 1 if summary.rejected else 0


def describe(summary: Summary) -> str:
    facts = {
        "rows": summary.rows,
        "scored": summary.scored,
        "rejected": summary.rejected,
        "rows_per_s": round(summary.rows_per_s),
        "output": str(summary.output),
        "rejects": str(summary.rejects) if summary.rejects else None,
        "unused": list(summary.unused),
    }
    return json.dumps(facts)


def notes(summary: Summary) -> list[str]:
    """stderr's lines beside the facts: nothing the input holds is left out unsaid."""
    lines = []
    if summary.unused:  # an export's time or source column, or a feature misspelt beside its right name
        named = ", ".join(map(repr, summary.unused))
        lines.append(
            f"columns the model does not use, read past: {named} (--keep COLUMN copies one to the output)"
        )
    if not summary.rows:  # a header alone: the output is a valid file, which a job must not take for data
        lines.append("0 rows scored: the input has columns and no rows; the output holds the columns only")
    return lines
