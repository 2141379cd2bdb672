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
    return _save(confusion_figure(series), path)


def confusion_figure(series: dict[str, Points]) -> Any:
    """One N x N count grid per model; classes in the order the cells name them. The figure
    grows with the classes, the widest count and the longest class name: a fixed size printed
    12 classes' counts over each other and one grid's labels over the other's counts. Names are
    drawn as tick labels (``ticks``): one line each, long ones cut, the x axis' upright."""
    grids = {name: _grid(cells) for name, cells in series.items()}
    classes = ticks(max((names for names, _ in grids.values()), key=len))
    digits = max((len(str(count)) for _, grid in grids.values() for row in grid for count in row), default=1)
    cell = max(0.45, 0.1 * digits + 0.2)  # inches: a count at 10 pt is about 0.1 in a digit
    label = 0.1 * max((len(c) for c in classes), default=1) + 0.9  # tick labels and axis label
    side = max(2.0, cell * len(classes))  # a 2 x 2 grid keeps its former size
    fig, axes = plt.subplots(
        1,
        len(series),
        figsize=(len(series) * (side + label), side + label),
        squeeze=False,
        layout="constrained",
    )
    for ax, (name, (names, grid)) in zip(axes[0], grids.items(), strict=True):
        ax.imshow(grid, cmap="Blues")
        for a, row in enumerate(grid):
            for p, count in enumerate(row):
                ax.text(p, a, str(count), ha="center", va="center")
        at = list(range(len(names)))
        ax.set(xticks=at, yticks=at, xlabel="predicted", ylabel="actual", title=name)
        # Class names are the data's text: "$5 to $10" is no TeX (a bad one stops the drawing).
        # Upright, a label is as wide as a line of text: slanted, a long one spans its neighbours'.
        ax.set_xticklabels(ticks(names), rotation=90 if len(names) > 2 else 0, parse_math=False)
        ax.set_yticklabels(ticks(names), parse_math=False)
    return fig


TICK_CHARS = 24  # a class name's longest tick label, in characters


def ticks(names: list[str]) -> list[str]:
    """Class names as tick labels: one line (a tab has no glyph; a line break stacked the name over
    its neighbours), at most TICK_CHARS (a 200-character name made the figure 50 inches wide and
    its grids specks); numbered where cutting leaves two alike. The report's tables name them whole."""
    shown = [" ".join(name.split()) for name in names]
    shown = [t if len(t) <= TICK_CHARS else f"{t[: TICK_CHARS - 1]}…" for t in shown]
    return shown if len(set(shown)) == len(shown) else [f"{i}. {t}" for i, t in enumerate(shown, 1)]


def _grid(cells: Points) -> tuple[list[str], list[list[int]]]:
    """(classes, counts[actual][predicted]) of one model's confusion cells."""
    classes = list(dict.fromkeys(str(c["actual"]) for c in cells))
    index = {c: i for i, c in enumerate(classes)}
    grid = [[0] * len(classes) for _ in classes]
    for cell in cells:
        grid[index[str(cell["actual"])]][index[str(cell["predicted"])]] = cell["count"]
    return classes, grid


def scatter(series: dict[str, Points], path: Path) -> Path:
    """Predicted against actual, with the diagonal a perfect model would sit on."""
    fig, ax = plt.subplots(figsize=(4.5, 4))
    values = [v for points in series.values() for p in points for v in (p["actual"], p["predicted"])]
    for name, points in series.items():
        ax.scatter(
            [p["actual"] for p in points], [p["predicted"] for p in points], s=8, alpha=0.6, label=name
        )
    if values:
        ax.plot([min(values), max(values)], [min(values), max(values)], linestyle=":", color="grey")
    ax.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual")
    ax.legend(loc="best")
    return _save(fig, path)


def histogram(series: dict[str, Points], path: Path) -> Path:
    """Residual distribution (predicted - actual) per model, as step outlines."""
    fig, ax = plt.subplots(figsize=(4.5, 4))
    for name, points in series.items():
        ax.step([p["residual"] for p in points], [p["count"] for p in points], where="mid", label=name)
    ax.axvline(0, linestyle=":", color="grey")
    ax.set(xlabel="predicted - actual", ylabel="rows", title="Residuals")
    ax.legend(loc="best")
    return _save(fig, path)


def importance(points: Points, path: Path, top: int = 15) -> Path:
    rows = points[:top][::-1]
    fig, ax = plt.subplots(figsize=(5, 0.3 * len(rows) + 1))
    ax.barh([r["feature"] for r in rows], [r["gain"] for r in rows])
    ax.set(xlabel="total gain", title="feature importance")
    return _save(fig, path)


def render_all(series: dict[str, dict[str, Points]], out_dir: Path) -> list[Path]:
    """``series`` maps model name -> plot name -> points; draws the plots the task has."""
    first = next(iter(series.values()))

    def pick(kind: str) -> dict[str, Points]:
        return {name: plots[kind] for name, plots in series.items()}

    drawn = []
    if "roc" in first:
        drawn += [
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
        ]
    if "confusion" in first:
        drawn.append(confusion(pick("confusion"), out_dir / "confusion.png"))
    if "predicted_vs_actual" in first:
        drawn.append(scatter(pick("predicted_vs_actual"), out_dir / "predicted_vs_actual.png"))
    if "residuals" in first:
        drawn.append(histogram(pick("residuals"), out_dir / "residuals.png"))
    return drawn
