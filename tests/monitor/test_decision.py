"""The retraining decision does not weaken as tables widen, and weighs drift by what the model uses.

The wide-table cases are the measured one (3 of 40 features moved hard: PSI 6.1, 1.0, 0.55, said
"no action" by the share-only rule) and one important feature among 40 moving moderately.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
import yaml

from mlapp.errors import ParamsError
from mlapp.monitor import decision, run
from mlapp.monitor.rows import FeatureDrift, PredictionShift
from mlapp.params import MonitorParams, load_params
from tests.conftest import REPO
from tests.monitor.helpers import fresh, write_csv

WIDTH = 40
CALM = PredictionShift(0.01, 0.1, 0.02, 0.5, 0.2, 0.2, 0.2, 0.2, False)


def _monitor(**changes: object) -> MonitorParams:
    return load_params(REPO / "params.yaml").monitor.model_copy(update=changes)


def _old_rule() -> MonitorParams:
    """The share-only rule this replaced: the two new rules off."""
    return _monitor(severe_psi=None, drifted_importance=None)


def _features(psi: dict[str, float], monitor: MonitorParams, width: int = WIDTH) -> list[FeatureDrift]:
    """``width`` numeric features, all stable (PSI 0.01) except those in ``psi``."""
    rows = []
    for i in range(width):
        name = f"x{i:02d}"
        value = psi.get(name, 0.01)
        limit = monitor.psi_by_feature.get(name, monitor.psi)
        why = [f"PSI {value:.3f} >= {limit}"] if value >= limit else []
        rows.append(FeatureDrift(name, "numeric", value, limit, 0.0, 1.0, 0.0, 0.0, "-", bool(why), why))
    return rows


def _even(width: int = WIDTH) -> dict[str, float]:
    return {f"x{i:02d}": 1 / width for i in range(width)}


def _fired(made: decision.Decision) -> list[str]:
    return [rule.rule for rule in made.rules if rule.triggered]


def test_three_hard_shifts_in_forty_features_retrain() -> None:
    monitor = _monitor()
    features = _features({"x03": 6.1, "x17": 1.0, "x29": 0.55}, monitor)
    made = decision.decide(features, _even(), CALM, [], monitor)
    assert made.retrain
    severe = made.rules[0]
    assert severe.rule == "severe_feature" and severe.triggered
    assert severe.names == ["x03", "x17", "x29"]  # largest PSI first
    assert severe.value == 6.1 and severe.threshold == monitor.severe_psi
    assert made.reasons[0] == (
        "severe drift in 3 feature(s), PSI >= 0.5: `x03` (PSI 6.100), `x17` (PSI 1.000), `x29` (PSI 0.550)"
    )
    # the same features under the share-only rule: 3/40 = 7.5% < 10%, nothing said
    assert not decision.decide(features, _even(), CALM, [], _old_rule()).retrain


def test_severe_does_not_weaken_with_width() -> None:
    monitor = _monitor()
    for width in (20, 40, 100, 400):
        made = decision.decide(_features({"x01": 0.9}, monitor, width), _even(width), CALM, [], monitor)
        assert _fired(made) == ["severe_feature"], width


def test_moderate_drift_in_what_the_model_uses_retrains_and_in_noise_does_not() -> None:
    monitor = _monitor()
    weights = {name: 0.01 for name in _even()} | {"x00": 0.35, "x01": 0.26}  # two features carry the model
    features = _features({"x00": 0.3}, monitor)  # one feature of 40 drifted: 2.5% of them
    made = decision.decide(features, weights, CALM, [], monitor)
    assert _fired(made) == ["drifted_importance"]
    assert made.rules[1].value == 0.35 and made.rules[1].names == ["x00"]
    assert "35.0% of the model's gain" in made.reasons[0]
    assert not decision.decide(features, weights, CALM, [], _old_rule()).retrain
    noise = decision.decide(_features({"x30": 0.3, "x31": 0.3}, monitor), weights, CALM, [], monitor)
    assert not noise.retrain  # 2 noise columns of 40 (2% of the gain): stable enough to keep the model
    assert noise.rules[1].value == 0.02


def test_many_features_drifting_still_retrain_by_share() -> None:
    monitor = _monitor()
    moved = {f"x{i:02d}": 0.3 for i in range(30, 34)}  # 4 of 40 = 10%, each under severe_psi
    made = decision.decide(_features(moved, monitor), {**_even(), "x00": 0.9}, CALM, [], monitor)
    assert "drifted_share" in _fired(made) and "severe_feature" not in _fired(made)


def test_a_feature_allowed_to_move_is_not_severe_below_its_own_threshold() -> None:
    monitor = _monitor(psi_by_feature={"x05": 0.8})
    made = decision.decide(_features({"x05": 0.6}, monitor), _even(), CALM, [], monitor)
    assert not made.retrain
    assert (made.rules[0].value, made.rules[0].threshold) == (0.6, 0.8)  # shown against its own floor
    assert decision.decide(_features({"x05": 0.9}, monitor), _even(), CALM, [], monitor).retrain


def test_every_rule_is_reported_with_its_numbers_when_nothing_fires() -> None:
    monitor = _monitor()
    made = decision.decide(_features({}, monitor), _even(), CALM, [], monitor)
    assert not made.retrain and made.reasons == []
    assert [rule.rule for rule in made.rules] == list(decision.RULES)
    assert [rule.value for rule in made.rules] == [0.01, 0.0, 0.0, 0.01, 0.0]
    off = decision.decide(_features({}, monitor), None, CALM, [], _old_rule())
    assert off.rules[0].threshold is None and "severe_psi: null" in off.rules[0].message
    assert off.rules[1].value is None  # no importance: nothing to weigh by


def test_importance_is_the_models_gain_share_and_zero_for_an_unused_feature() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"signal": rng.normal(size=600), "weak": rng.normal(size=600), "unused": 1.0})
    label = (frame["signal"] + 0.3 * frame["weak"] + rng.normal(scale=0.5, size=600) > 0).astype(int)
    booster = xgb.train({"max_depth": 3, "seed": 0}, xgb.DMatrix(frame, label), num_boost_round=20)
    weights = decision.importance(booster, ["signal", "weak", "unused"])
    assert weights is not None
    assert weights["unused"] == 0.0 and weights["signal"] > weights["weak"] > 0
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-5)
    stump = xgb.train({"max_depth": 3}, xgb.DMatrix(frame[["unused"]], label), num_boost_round=2)
    assert decision.importance(stump, ["unused"]) is None


def test_severe_below_drift_is_one_params_error(tmp_path: Path) -> None:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["monitor"].update(severe_psi=0.1, psi=0.2)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError, match=r"monitor.severe_psi 0.1 is below monitor.psi 0.2"):
        load_params(path)
    raw["monitor"].update(severe_psi=None, drifted_importance=None)
    path.write_text(yaml.safe_dump(raw))
    assert load_params(path).monitor.severe_psi is None


def test_one_feature_far_out_retrains_end_to_end(
    reference_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Session lengths doubled (a unit change upstream): PSI ~1.07 on a feature holding ~6% of the
    gain, prediction PSI ~0.02, 1 of 17 features drifted; the share-only rule said no action."""
    monkeypatch.chdir(reference_project)
    frame = fresh(104)
    frame["avg_session_minutes"] = np.round(frame["avg_session_minutes"] * 2, 2)
    source = write_csv(frame, tmp_path / "sessions.csv")
    params = load_params()
    out, md = tmp_path / "m.json", tmp_path / "m.md"
    code = run.main(
        params, source=str(source), json_path=out, markdown_path=md, model_dir=params.train.model_dir
    )
    report = json.loads(out.read_text())
    assert code == run.RETRAIN
    fired = {rule["rule"]: rule for rule in report["rules"] if rule["triggered"]}
    assert list(fired) == ["severe_feature"], report["reasons"]
    assert fired["severe_feature"]["names"] == ["avg_session_minutes"]
    assert report["drifted_features"] == ["avg_session_minutes"]
    assert 0 < report["importance"]["avg_session_minutes"] == report["drifted_importance"] < 0.2
    assert sum(report["importance"].values()) == pytest.approx(1.0, abs=1e-4)
    text = md.read_text()
    assert "### Rules" in text and "**RETRAIN**" in text and "severe drift in 1 feature(s)" in text
