"""A feature changed in schema.py but not in the churn sample is named as such by the tests."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlapp.schema import FEATURES
from tests.conftest import _make_reference


@pytest.fixture
def without_region() -> Iterator[None]:
    """FEATURES without `region`, then FEATURES as it was, in its order (the model's column order)."""
    kept = dict(FEATURES)
    del FEATURES["region"]  # dropped from the schema, still in the sample
    try:
        yield
    finally:
        FEATURES.clear()
        FEATURES.update(kept)


@pytest.mark.usefixtures("without_region")
def test_a_feature_the_sample_lacks_stops_the_reference_project_saying_where(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=r"src/mlapp/sample_data\.py must write"):
        _make_reference(tmp_path)
