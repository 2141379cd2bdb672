"""The service's settings: from params.yaml in the project, from the serving-only file in a bento."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from mlapp.errors import ParamsError, UserError
from mlapp.params import load_params
from mlapp.serving import PARAMS_ENV, auth, settings, smoke
from tests.conftest import REPO


@pytest.fixture()
def bento_like(tmp_path: Path) -> Path:
    """A folder holding what a bento holds: the serving settings file, no params.yaml."""
    settings.ServingConfig.of(load_params(REPO / "params.yaml")).write(tmp_path / settings.CONFIG_FILE)
    return tmp_path


def test_the_bento_file_gives_the_settings_params_yaml_gives(bento_like: Path) -> None:
    project = bento_like / "project"
    project.mkdir()
    shutil.copy(REPO / "params.yaml", project / "params.yaml")
    from_file = settings.load(environ={}, root=bento_like)
    from_params = settings.load(environ={}, root=project)
    assert from_file.serving == from_params.serving == load_params(REPO / "params.yaml").serving
    assert from_file.model_dir.relative_to(bento_like) == from_params.model_dir.relative_to(project)
    assert from_file.metrics_file.relative_to(bento_like) == from_params.metrics_file.relative_to(project)


def test_the_bento_file_holds_only_what_serving_reads(bento_like: Path) -> None:
    written = json.loads((bento_like / settings.CONFIG_FILE).read_text())
    assert set(written) == {
        "serving", "model_dir", "metrics", "id_column", "time_column", "group_column", "ignore_columns",
        "missing_values", "csv_separator", "decimal",
    }  # fmt: skip


def test_data_ignore_columns_reach_the_service_and_an_older_bento_file_still_loads(
    bento_like: Path,
) -> None:
    """The service names a column of data.ignore_columns sent in a record (test_columns.py): the
    setting comes from params.yaml or the bento's file; a file written before it was carried loads."""
    params = load_params(REPO / "params.yaml")
    data = params.data.model_copy(update={"ignore_columns": ["email"]})
    config = settings.ServingConfig.of(params.model_copy(update={"data": data}))
    config.write(bento_like / settings.CONFIG_FILE)
    assert settings.load(environ={}, root=bento_like).ignore_columns == ["email"]
    older = json.loads((bento_like / settings.CONFIG_FILE).read_text())
    del older["ignore_columns"]
    (bento_like / settings.CONFIG_FILE).write_text(json.dumps(older))
    assert settings.load(environ={}, root=bento_like).ignore_columns == []


def test_params_yaml_wins_over_a_stale_bento_file(bento_like: Path, tmp_path_factory) -> None:
    raw = (REPO / "params.yaml").read_text()
    assert "  max_rows: " in raw
    edited = raw.replace("  max_rows: ", "  max_rows: 7 #", 1)
    (bento_like / "params.yaml").write_text(edited)
    assert settings.load(environ={}, root=bento_like).serving.max_rows == 7
    elsewhere = tmp_path_factory.mktemp("params") / "params.yaml"
    elsewhere.write_text(raw.replace("  max_rows: ", "  max_rows: 9 #", 1))
    assert settings.load(environ={PARAMS_ENV: str(elsewhere)}, root=bento_like).serving.max_rows == 9


def test_missing_or_invalid_settings_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match=r"neither .*params\.yaml nor .*serving\.json"):
        settings.read_config(environ={}, root=tmp_path)
    (tmp_path / settings.CONFIG_FILE).parent.mkdir()
    (tmp_path / settings.CONFIG_FILE).write_text('{"serving": {}}')
    with pytest.raises(ParamsError, match="rebuild the bento"):
        settings.read_config(environ={}, root=tmp_path)


def test_a_comment_in_a_token_file_is_no_token(tmp_path: Path) -> None:
    """Every word of a `#` comment was a valid bearer token (`# API clients` let `Bearer API` in)."""
    path = tmp_path / "tokens"
    path.write_text("# API clients\nabc123  # team A\n  # rotated: old one below\nold456,new789\n")
    tokens = auth.Tokens(None, str(path))
    assert tokens.tokens == (b"abc123", b"old456", b"new789")
    assert not any(tokens.accepts(word) for word in (b"API", b"clients", b"#", b"team", b"A", b"old"))
    assert auth.parse_tokens("t1, t2 t3") == (b"t1", b"t2", b"t3")  # the variable's form


def test_a_token_file_read_while_it_was_rewritten_in_place_is_read_again(tmp_path: Path) -> None:
    """A read between the truncate and the write of an in-place rewrite sees no tokens; the write
    may land within the same tick of the file system's clock (same mtime), which kept the
    service refusing every request until the file changed again."""
    path = tmp_path / "tokens"
    path.write_text("old-token\n")
    tokens = auth.Tokens(None, str(path))
    path.write_text("")  # truncated: the service reads it now
    tokens.refresh(force=True)
    assert tokens.tokens == ()
    tick = path.stat().st_mtime_ns
    path.write_text("new-token\n")
    os.utime(path, ns=(tick, tick))  # written within the same tick
    tokens.refresh(force=True)
    assert tokens.accepts(b"new-token")


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("http://churn.example.com", True),
        ("http://10.0.0.5:3000", True),
        ("https://churn.example.com", False),
        ("http://127.0.0.1:3000", False),  # a port-forward, a local server or container
        ("http://localhost:3000", False),
        ("http://[::1]:3000", False),
    ],
)
def test_the_smoke_token_never_crosses_a_network_in_clear_text(url: str, refused: bool) -> None:
    """wait and smoke send $MLAPP_API_TOKEN: to an http:// SERVICE_URL anyone on the path read it."""
    token = "a-service-token"  # noqa: S105 - a stand-in
    if refused:
        with pytest.raises(UserError, match=r"refusing to send \$MLAPP_API_TOKEN unencrypted"):
            smoke.client(url, 5, token)
    else:
        smoke.client(url, 5, token).close()
    smoke.client(url, 5, "").close()  # no token, nothing to leak
