"""PNG renderings of the plot data (for MLflow and the PR report).

Every function takes one series per model so the PR report can overlay champion and
challenger with the same code that draws a single model's curves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: CI and servers have no display
import matplotlib.pyplot as plt

Points = list[dict[str, Any]]


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Fixed metadata keeps the PNG bytes reproducible for identical data.
    fig.savefig(path, dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path


def curves(
    series: dict[str, Points], x: str, y: str, title: str, path: Path, *, diagonal: bool = False
) -> Path:
    fig, ax = plt.subplots(figsize=(4.5, 4))
    for name, points in series.items():
        ax.plot([p[x] for p in points], [p[y] for p in points], label=name)
    if diagonal:
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(xlabel=x, ylabel=y, title=title, xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="best")
    return _save(fig, path)


def confusion(series: dict[str, Points], path: Path) -> Path:
    fig, axes = plt.subplots(1, len(series), figsize=(3.2 * len(series), 3), squeeze=False)
    for ax, (name, cells) in zip(axes[0], series.items(), strict=True):
        grid = [[0, 0], [0, 0]]
        for cell in cells:
            grid[int(cell["actual"])][int(cell["predicted"])] = cell["count"]
        ax.imshow(grid, cmap="Blues")
        for a in (0, 1):
            for p in (0, 1):
                ax.text(p, a, str(grid[a][p]), ha="center", va="center")
        ax.set(xticks=[0, 1], yticks=[0, 1], xlabel="predicted", ylabel="actual", title=name)
    return _save(fig, path)


def importance(points: Points, path: Path, top: int = 15) -> Path:
    rows = points[:top][::-1]
    fig, ax = plt.subplots(figsize=(5, 0.3 * len(rows) + 1))
    ax.barh([r["feature"] for r in rows], [r["gain"] for r in rows])
    ax.set(xlabel="total gain", title="feature importance")
    return _save(fig, path)


def render_all(series: dict[str, dict[str, Points]], out_dir: Path) -> list[Path]:
    """``series`` maps model name -> plot name (roc, pr, calibration, confusion) -> points."""

    def pick(kind: str) -> dict[str, Points]:
        return {name: plots[kind] for name, plots in series.items()}

    return [
        curves(pick("roc"), "fpr", "tpr", "ROC", out_dir / "roc.png", diagonal=True),
        curves(pick("pr"), "recall", "precision", "Precision-recall", out_dir / "pr.png"),
        curves(
            pick("calibration"),
            "mean_predicted",
            "fraction_positive",
            "Calibration",
            out_dir / "calibration.png",
            diagonal=True,
        ),
        confusion(pick("confusion"), out_dir / "confusion.png"),
    ]
