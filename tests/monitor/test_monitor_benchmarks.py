"""benchmarks/monitor_scale.py and monitor_memory.py run an older revision with this checkout's
params as that revision reads them: it refuses a setting it does not know (`monitor.chunk_rows`
stopped monitor_scale's default baseline once added), and main, the default of monitor_memory's
--old-ref, has and requires the settings a branch's params.yaml has."""

from __future__ import annotations

import runpy
from typing import Any

import yaml

from tests.conftest import REPO


def _params_for_old(monkeypatch) -> Any:
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))  # its sibling modules, as when run
    for script in ("monitor_scale.py", "monitor_memory.py"):  # both import it
        assert runpy.run_path(str(REPO / "benchmarks" / script))["params_for_old"]
    return runpy.run_path(str(REPO / "benchmarks" / "revisions.py"))["params_for_old"]


def test_a_setting_the_old_revision_lacks_is_left_out_and_one_only_it_has_kept(monkeypatch) -> None:
    params_for_old = _params_for_old(monkeypatch)
    current = {"task": "binary", "monitor": {"psi": 0.2, "chunk_rows": 50_000}, "tune": {"trials": 5}}
    old = {"task": "regression", "monitor": {"psi": 0.1, "retired": 3}}
    assert params_for_old(current, old) == {"task": "binary", "monitor": {"psi": 0.2, "retired": 3}}
    assert current["monitor"]["chunk_rows"] == 50_000  # this checkout's params untouched


def test_a_nested_setting_the_old_revision_lacks_is_left_out_too(monkeypatch) -> None:
    params_for_old = _params_for_old(monkeypatch)
    current = {"train": {"dask": {"timeout_s": 600, "connect_timeout_s": 60}, "engine": "local"}}
    current["monitor"] = {"psi_by_feature": {"tenure": 0.3}}  # a per-feature map: any keys
    old = {"train": {"dask": {"timeout_s": 300}, "engine": "dask"}, "monitor": {"psi_by_feature": {}}}
    expected = {"train": {"dask": {"timeout_s": 600}, "engine": "local"}, "monitor": current["monitor"]}
    assert params_for_old(current, old) == expected


def test_a_revision_with_every_setting_gets_this_checkouts_params_whole(monkeypatch) -> None:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    assert _params_for_old(monkeypatch)(params, params) == params


def test_a_map_keyed_by_name_is_this_checkouts_whole_whatever_names_the_old_one_has(monkeypatch) -> None:
    """A per-column or per-metric map names columns and metrics, not settings: the old revision's
    keys are what its own params.yaml happened to name, and this checkout's all apply."""
    params_for_old = _params_for_old(monkeypatch)
    current = {
        "monitor": {"psi": 0.2, "psi_by_feature": {"tenure_months": 0.3, "discount_pct": 0.4}},
        "validate": {"max_null_share_by_column": {"satisfaction_score": 0.8}},
        "tune": {"space": {"max_depth": [3, 8]}},
    }
    current["monitor"]["decay_tolerance"] = {"rmse": "5%"}
    old = {
        "monitor": {
            "psi": 0.1,
            "psi_by_feature": {"tenure_months": 0.2},
            "decay_tolerance": {"roc_auc": 0.05},
        },
        "validate": {"max_null_share_by_column": {"total_charges": 0.9}},
        "tune": {"space": {"max_depth": [2, 4], "learning_rate": [0.01, 0.3]}},
    }
    assert params_for_old(current, old) == current
