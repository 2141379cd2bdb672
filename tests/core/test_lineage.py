"""mlapp.lineage: the one reader of git, DVC pointers and dvc.lock for lineage."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlapp import lineage
from mlapp.model import MODEL_FILE, SPEC_FILE, model_sha256
from tests.conftest import sh

POINTER = "outs:\n- md5: 0123abcd\n  size: 10\n  path: churn.csv\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, None),
        ("", None),
        (POINTER, lineage.Pointer("churn.csv", "0123abcd", imported=False)),
        (
            "deps:\n- path: s3://b/x.csv\nouts:\n- path: x.csv\n",
            lineage.Pointer("x.csv", None, imported=True),
        ),
        ("outs: []\n", lineage.Pointer(None, None, imported=False)),
    ],
)
def test_read_pointer(text: str | None, expected: lineage.Pointer | None) -> None:
    assert lineage.read_pointer(text) == expected


def test_tags_in_a_repository(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / MODEL_FILE).write_bytes(b"model bytes")
    (tmp_path / "models" / SPEC_FILE).write_text('{"threshold": 0.5}')
    (tmp_path / "data.dvc").write_text(POINTER)
    (tmp_path / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  train:\n    cmd: x\n    outs:\n    - path: models\n      md5: b2\n"
        "    - path: m.json\n      md5: a1\n"
    )
    outside = lineage.tags(tmp_path / "models", root=tmp_path)
    assert outside["git.commit"] == lineage.UNKNOWN and outside["git.dirty"] == "false"
    sh("git", "init", "-q", cwd=tmp_path)
    sh("git", "add", "-A", cwd=tmp_path)
    sh("git", "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "x", cwd=tmp_path)
    head = sh("git", "rev-parse", "HEAD", cwd=tmp_path).stdout.strip()
    (tmp_path / "dvc.lock").write_text((tmp_path / "dvc.lock").read_text() + "\n")  # tracked change
    tags = lineage.tags(tmp_path / "models", root=tmp_path)
    assert tags["git.commit"] == head and tags["git.dirty"] == "true"
    assert (tags["data.md5"], tags["data.path"]) == ("0123abcd", "churn.csv")
    assert tags["dvc.lock.train"] == "a1,b2"
    assert tags["model.sha256"] == model_sha256(tmp_path / "models") and len(tags["model.sha256"]) == 64
    assert (
        lineage.data_md5(tmp_path) == "0123abcd" and lineage.data_md5(tmp_path / "models") == lineage.UNKNOWN
    )


def test_repository_names_the_remote_not_the_clone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    sh("git", "init", "-q", cwd=tmp_path)
    assert lineage.repository(tmp_path) == lineage.UNKNOWN  # no remote
    sh("git", "remote", "add", "origin", "/srv/git/churn.git", cwd=tmp_path)
    assert lineage.repository(tmp_path) == lineage.UNKNOWN  # a local path names no repository
    sh("git", "remote", "set-url", "origin", "git@github.com:Acme/Churn.git", cwd=tmp_path)
    assert lineage.repository(tmp_path) == "github.com/acme/churn"
    monkeypatch.setenv("GITHUB_REPOSITORY", "Acme/Churn")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://ghe.example.com")
    assert lineage.repository(tmp_path) == "ghe.example.com/acme/churn"
