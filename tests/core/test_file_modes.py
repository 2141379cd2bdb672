"""What mlapp writes takes the user's mode (0666 less the umask), as git, DVC and pandas write
theirs: the model's two files alike, and a textfile-collector file as readable as any other. The
image's build context alone is opened to all: its server runs as another user than the files'."""

from __future__ import annotations

import stat
from pathlib import Path

from mlapp import model as model_io
from mlapp.files import write_json
from mlapp.image.context import readable_by_all
from tests.pipeline.boosters import saved, tiny_booster


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_the_models_files_and_a_rewritten_json_take_the_users_mode(umask: int, tmp_path: Path) -> None:
    """Before, under umask 077: model.ubj 0600 beside model_spec.json 0644 (forced), in one folder."""
    saved(tiny_booster(0), tmp_path / "models")
    files = [tmp_path / "models" / model_io.MODEL_FILE, tmp_path / "models" / model_io.SPEC_FILE]
    assert [mode(path) for path in files] == [0o666 & ~umask] * 2
    assert mode(tmp_path / "models") == 0o777 & ~umask
    report = tmp_path / "report.json"
    report.touch(mode=0o600)
    report.chmod(0o640)  # not the umask's: the rewrite is a new file, as any tool's
    write_json({"status": "passed"}, report)
    assert mode(report) == 0o666 & ~umask


def test_the_image_context_is_readable_by_all_and_nothing_outside_changes(umask: int, tmp_path: Path) -> None:
    """Before, under umask 077: the context as written (0600 files, 0700 folders), which the
    image's COPY keeps, root's, for a server running as bentoml (1034): Permission denied."""
    context = tmp_path / "context"
    (context / "src" / "models").mkdir(parents=True)
    (context / "src" / "models" / "model.ubj").write_bytes(b"ubj")
    (context / "entrypoint.sh").write_text("#!/bin/sh\n")
    (context / "entrypoint.sh").chmod(0o700 & ~umask)
    outside = tmp_path / "private"
    outside.write_text("not the image's")
    outside.chmod(0o600)
    (context / "src" / "linked").symlink_to(outside)
    readable_by_all(context)
    assert mode(context / "src" / "models" / "model.ubj") == 0o644 | (0o666 & ~umask)
    assert mode(context / "entrypoint.sh") == 0o755
    assert {mode(folder) for folder in (context, context / "src", context / "src" / "models")} == {0o755}
    assert mode(outside) == 0o600
