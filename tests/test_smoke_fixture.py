from pathlib import Path


def test_trained_project_has_a_model(trained_project: Path) -> None:
    assert (trained_project / "models" / "model.ubj").stat().st_size > 0
    assert (trained_project / "metrics" / "metrics.json").is_file()
