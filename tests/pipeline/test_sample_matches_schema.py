"""A feature changed in schema.py but not in the churn sample is named as such by the tests."""

from pathlib import Path

import pytest

from mlapp.schema import FEATURES
from tests.conftest import _make_reference


def test_a_feature_the_sample_lacks_stops_the_reference_project_saying_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(FEATURES, "region")  # dropped from the schema, still in the sample
    with pytest.raises(AssertionError, match=r"src/mlapp/sample_data\.py must write"):
        _make_reference(tmp_path)
