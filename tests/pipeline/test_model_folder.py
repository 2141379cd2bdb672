"""The model folder written on real disks (a tmpfs, mounted as root, else skipped): one that fills
or is read-only keeps the previous model, and the error names ``models``, not the staging folder
beside it, and says what to do. A model folder that is a mount point has its files replaced."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from mlapp import model as model_io
from mlapp.errors import UserError
from mlapp.stages.train import base_spec
from tests.full_disk import small_tmpfs
from tests.pipeline.boosters import saved, tiny_booster

# The disk's root, models/ and its two files, then the staging folder, its new/ and model.ubj:
# the seventh, the new spec, finds the disk full.
INODES = 7


def test_a_disk_full_at_the_spec_names_the_model_folder(tmp_path) -> None:
    """It named `.models-rkng8nxn/new/model_spec.json`, a folder gone by the time it was read."""
    with small_tmpfs(tmp_path / "disk", inodes=INODES) as disk:
        model_dir = disk / "models"
        before = saved(tiny_booster(1), model_dir)
        with pytest.raises(UserError) as raised:
            model_io.save(tiny_booster(2), base_spec("churned"), model_dir)
        assert str(raised.value) == f"cannot write {model_dir}: No space left on device"
        assert (model_dir / model_io.MODEL_FILE).read_bytes() == before
        assert [p.name for p in disk.iterdir()] == ["models"]


def test_a_read_only_disk_says_what_must_be_writable(tmp_path) -> None:
    with small_tmpfs(tmp_path / "disk") as disk:
        model_dir = disk / "models"
        before = saved(tiny_booster(1), model_dir)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        with pytest.raises(UserError) as raised:
            model_io.save(tiny_booster(2), base_spec("churned"), model_dir)
        said = str(raised.value)
        assert said.startswith(f"cannot write {model_dir}: Read-only file system: ")
        assert re.search(rf"beside {model_dir} \(in {disk}\) .* both must be writable", said)
        assert "train in a writable clone, or give `mlapp pipeline train` a writable --model-dir" in said
        assert (model_dir / model_io.MODEL_FILE).read_bytes() == before


@pytest.mark.slow
def test_a_model_folder_that_is_a_mount_point_is_written_into(tmp_path) -> None:
    """A tmpfs, a bind mount or a volume at models/ cannot be renamed: saving said "cannot write
    models: Device or resource busy" and nothing why. Its files are replaced instead."""
    with small_tmpfs(tmp_path / "models") as model_dir:
        (model_dir / "lost+found").mkdir()  # a volume's own folder, left as it is
        saved(tiny_booster(1), model_dir)
        (model_dir / "notes.txt").write_text("not the model's")  # gone, as with a folder swapped
        new = tiny_booster(2)
        assert saved(new, model_dir) == bytes(new.save_raw("ubj"))
        assert model_io.load(model_dir).spec == base_spec("churned")
        assert sorted(p.name for p in model_dir.iterdir()) == ["lost+found", *sorted(model_io.MODEL_FILES)]
        assert os.path.ismount(model_dir)
        assert [p.name for p in tmp_path.iterdir()] == ["models"]  # no staging folder left beside


@pytest.mark.slow
def test_a_mount_point_that_fills_keeps_the_previous_model(tmp_path) -> None:
    # The mount's root and the model's two files: no room for a new file beside them.
    with small_tmpfs(tmp_path / "models", inodes=3) as model_dir:
        before = saved(tiny_booster(1), model_dir)
        with pytest.raises(UserError) as raised:
            model_io.save(tiny_booster(2), base_spec("churned"), model_dir)
        assert str(raised.value) == f"cannot write {model_dir}: No space left on device"
        assert (model_dir / model_io.MODEL_FILE).read_bytes() == before
        assert sorted(p.name for p in model_dir.iterdir()) == sorted(model_io.MODEL_FILES)
        assert [p.name for p in tmp_path.iterdir()] == ["models"]
