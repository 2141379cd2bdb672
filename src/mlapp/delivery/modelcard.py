"""The model card of a release: what runs, how good it is, where it came from.

Rendered from the deploy-branch record (image, commits, who) and the MLflow registry
version built into the image (metrics of its run, lineage tags). It becomes the body of
the GitHub release that the promotion workflow records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlapp.delivery.state import Release

HEADLINE_METRICS = ("roc_auc", "pr_auc", "f1", "precision", "recall", "log_loss", "brier")


@dataclass(frozen=True)
class CardInputs:
    release: Release
    state_commit: str
    repo_url: str | None
    registry_version: str | None
    version_tags: Mapping[str, str]
    metrics: Mapping[str, float]
    pull_requests: Sequence[Mapping[str, Any]]


def _commit(repo_url: str | None, sha: str) -> str:
    return f"[`{sha[:12]}`]({repo_url}/commit/{sha})" if repo_url else f"`{sha[:12]}`"


def _metrics_table(metrics: Mapping[str, float]) -> list[str]:
    if not metrics:
        return ["_No metrics found in the registry run._"]
    names = [m for m in HEADLINE_METRICS if m in metrics] + sorted(set(metrics) - set(HEADLINE_METRICS))
    return ["| metric | value |", "|---|---|", *[f"| {n} | {metrics[n]:.4f} |" for n in names]]


def render(card: CardInputs) -> str:
    r = card.release
    tags = card.version_tags
    lines = [
        f"## Model {r.model_version or '?'} in {r.environment}",
        "",
        f"- **Image:** `{r.image}`",
        f"- **Built from:** {_commit(card.repo_url, r.source_commit)}"
        + (
            f" (manifests from {_commit(card.repo_url, r.config_commit)})"
            if r.config_commit != r.source_commit
            else ""
        ),
        f"- **Registry:** version {card.registry_version or '?'}"
        + (f", run `{tags['run_id']}`" if "run_id" in tags else ""),
        f"- **How:** {r.action}"
        + (f" from {r.promoted_from}" if r.promoted_from else "")
        + (f", replacing `{r.rolled_back_from}`" if r.rolled_back_from else "")
        + f", by @{r.deployed_by}"
        + (f" ([run]({r.run_url}))" if r.run_url else ""),
        f"- **Deploy state:** `{card.state_commit[:12]}` on the deploy branch",
        "",
        "### Metrics (test set)",
        *_metrics_table(card.metrics),
        "",
        "### Review",
    ]
    if card.pull_requests:
        lines += [
            f"- [#{p['number']} {p['title']}]({p['url']}): the PR report is its sticky comment"
            for p in card.pull_requests
        ]
    else:
        lines.append("- No pull request found for the source commit (pushed directly?).")
    lineage = {k: v for k, v in sorted(tags.items()) if k != "run_id"}
    if lineage:
        lines += ["", "### Lineage", "| tag | value |", "|---|---|"]
        lines += [f"| {k} | `{v}` |" for k, v in lineage.items()]
    return "\n".join(lines) + "\n"
