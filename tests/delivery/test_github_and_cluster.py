"""What would be sent to GitHub (gh) and to the cluster (kubectl), checked without either.

A fake ``kubectl`` first on PATH records its arguments; it hands ``kustomize`` to the real
one so rendering stays real. (The ``gh`` side of a deploy: tests/delivery/test_workflow_steps.py.)
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from tests.conftest import REPO, answering, run_main, sh
from tests.delivery.conftest import FIRST, LAST, bin_dir, image, path_with

from mlapp import git
from mlapp.cli import EXIT_ERROR
from mlapp.delivery import github, kube
from mlapp.delivery.state import StateError
from mlapp.model import load
from mlapp.params import load_params

KUBECTL = shutil.which("kubectl")
RECORD_ARGS = 'printf "%s\\n" "$*" >> "$FAKE_LOG"\n'


def fake_kubectl(tmp_path: Path, extra: str = "") -> Path:
    script = f"""#!/bin/sh
{RECORD_ARGS}if [ "$1" = kustomize ]; then exec {KUBECTL} "$@"; fi
echo "KUBECONFIG=$KUBECONFIG" >> "$FAKE_LOG"
[ -n "$KUBECONFIG" ] && cat "$KUBECONFIG" >> "$FAKE_LOG"
{extra}
exit 0
"""
    return bin_dir(tmp_path, "kubectl", script)


# --- GitHub setup -------------------------------------------------------------------------------


PARAMS = load_params(REPO / "params.yaml").delivery
REVIEWERS = [{"type": "User", "id": 11}, {"type": "Team", "id": 22}]


def calls(**overrides) -> list[tuple[str, str, dict]]:
    args = {"repo": "acme/churn", "delivery": PARAMS, "checks": ("lint", "test"), "reviewers": REVIEWERS,
            "allow_actions_prs": False, "rulesets": {}} | overrides  # fmt: skip
    return [(method, path, body) for method, path, body, _why in github.plan(**args)]


def plan(**overrides) -> dict[tuple[str, str], dict]:
    return {(method, path): body for method, path, body in calls(**overrides)}


def test_production_environment_payload() -> None:
    calls = plan()
    prod = calls[("PUT", f"repos/acme/churn/environments/{LAST}")]
    assert prod["prevent_self_review"] is True and prod["can_admins_bypass"] is False
    assert prod["reviewers"] == REVIEWERS
    assert prod["deployment_branch_policy"] == {"protected_branches": False, "custom_branch_policies": True}
    staging = calls[("PUT", f"repos/acme/churn/environments/{FIRST}")]
    assert "reviewers" not in staging
    for env in (FIRST, LAST):
        assert calls[("POST", f"repos/acme/churn/environments/{env}/deployment-branch-policies")] == {
            "name": "main",
            "type": "branch",
        }


def test_rulesets_protect_main_and_make_the_deploy_branch_append_only() -> None:
    main, deploy = (body for _method, path, body in calls() if path.startswith("repos/acme/churn/rulesets"))
    main_rules = {r["type"]: r.get("parameters") for r in main["rules"]}
    assert main["conditions"]["ref_name"]["include"] == ["~DEFAULT_BRANCH"] and main["bypass_actors"] == []
    assert main_rules["pull_request"]["required_approving_review_count"] == 1
    assert main_rules["pull_request"]["dismiss_stale_reviews_on_push"] is True
    checks = main_rules["required_status_checks"]["required_status_checks"]
    assert [c["context"] for c in checks] == ["lint", "test"]
    assert {"non_fast_forward", "deletion"} <= set(main_rules)
    deploy_rules = {r["type"] for r in deploy["rules"]}
    assert deploy["conditions"]["ref_name"]["include"] == ["refs/heads/deploy"]
    assert deploy_rules == {"deletion", "non_fast_forward", "update"}
    assert deploy["bypass_actors"] == [
        {"actor_id": 15368, "actor_type": "Integration", "bypass_mode": "always"}
    ]


def test_rulesets_are_updated_in_place_when_they_exist() -> None:
    sent = [
        (method, path) for method, path, _body in calls(rulesets={"protect main": 7}) if "rulesets" in path
    ]
    assert sent == [("PUT", "repos/acme/churn/rulesets/7"), ("POST", "repos/acme/churn/rulesets")]


def test_token_defaults_are_read_only() -> None:
    body = plan()[("PUT", "repos/acme/churn/actions/permissions/workflow")]
    assert body == {"default_workflow_permissions": "read", "can_approve_pull_request_reviews": False}


def test_setup_turns_on_dependabot_alerts_then_its_security_updates() -> None:
    sent = [(method, path, body) for method, path, body in calls() if "repos/acme/churn/" in path]
    alerts = sent.index(("PUT", "repos/acme/churn/vulnerability-alerts", None))
    fixes = sent.index(("PUT", "repos/acme/churn/automated-security-fixes", None))
    assert alerts < fixes  # GitHub refuses security updates while the alerts are off


def test_required_checks_default_to_the_ci_job_names() -> None:
    checks, environments = github.workflow_facts(REPO / ".github/workflows")
    assert checks == ("lint", "actionlint", "test")
    assert {FIRST, "continuous-training"} <= set(environments)  # promote/rollback name theirs from inputs
    assert git.remote_repo("git@github.com:acme/churn.git") == ("github.com", "acme/churn")
    assert git.remote_repo("https://github.com/acme/churn") == ("github.com", "acme/churn")
    assert git.remote_repo("https://ci:token@gitlab.example.com/ml/churn.git") == (
        "gitlab.example.com",
        "ml/churn",
    )
    assert git.remote_repo("/tmp/origin.git") is None


def test_reviewer_syntax() -> None:
    assert github.reviewer("team:acme/leads") == ("Team", "orgs/acme/teams/leads")
    assert github.reviewer("user:alice") == ("User", "users/alice")
    for bad in ("alice", "team:leads", "group:x", "user:"):
        with pytest.raises(github.GitHubError):
            github.reviewer(bad)


def test_github_setup_dry_run_prints_every_request(mlapp_in_repo) -> None:
    code, out = mlapp_in_repo("delivery", "github-setup", "--repo", "acme/churn", "--reviewer", "user:alice")
    assert code == 0, out
    for path in (
        "actions/permissions/workflow",
        f"environments/{FIRST}",
        f"environments/{LAST}",
        f"environments/{LAST}/deployment-branch-policies",
        "rulesets",
    ):
        assert f"repos/acme/churn/{path}" in out
    assert '"prevent_self_review": true' in out
    # A PUT without a body (Dependabot's two) is printed without one, not as a JSON null.
    assert "PUT repos/acme/churn/vulnerability-alerts\n\n#" in out and "null" not in out, out


def test_a_repository_is_asked_for_by_the_option_of_the_command(monkeypatch, capsys) -> None:
    """`github-setup --repo nothing` was asked "which repository?" as if none was given, and
    image-metadata was told to pass --repo, an option it does not have (its own is --repository)."""
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    for bad in ("nothing", "acme/", "acme/churn/x"):
        assert run_main(monkeypatch, "delivery", "github-setup", "--repo", bad) == EXIT_ERROR
        assert capsys.readouterr().err == f"error: --repo {bad!r} is not OWNER/NAME\n"
    assert run_main(monkeypatch, "delivery", "image-metadata") == EXIT_ERROR
    said = "error: which repository? pass --repository OWNER/NAME or set GITHUB_REPOSITORY\n"
    assert capsys.readouterr().err == said
    with pytest.raises(github.GitHubError, match=r"^which repository\? set GITHUB_REPOSITORY$"):
        github.repository()  # deploy's attestation check: no option to pass


def test_github_setup_refuses_to_apply_without_reviewers(mlapp_in_repo) -> None:
    code, out = mlapp_in_repo("delivery", "github-setup", "--repo", "acme/churn", "--apply")
    assert code != 0 and f"{LAST}: no required reviewer" in out


@pytest.fixture
def github_api(monkeypatch) -> Iterator[list[tuple[str, str, str | None, object]]]:
    """A local GitHub REST API (GITHUB_API_URL): records (method, path, Authorization, body);
    a reviewer, one existing ruleset and staging's existing branch policy to find."""
    sent: list[tuple[str, str, str | None, object]] = []
    answers = {
        "/users/alice": {"id": 11},
        "/repos/acme/churn/rulesets": [{"name": "protect main", "id": 7}],
        f"/repos/acme/churn/environments/{FIRST}/deployment-branch-policies": {
            "branch_policies": [{"name": "main"}]
        },
    }

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            sent.append((self.command, self.path, self.headers.get("Authorization"), body))
            default = {"branch_policies": []} if self.path.endswith("policies") else {}
            payload = json.dumps(answers.get(self.path, default) if self.command == "GET" else {}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_PUT = do_POST = answer

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("GH_TOKEN", "admin-token")
    yield sent
    server.shutdown()


def test_github_setup_apply_sends_the_payloads(mlapp_in_repo, github_api) -> None:
    code, out = mlapp_in_repo(
        "delivery", "github-setup", "--repo", "acme/churn", "--reviewer", "user:alice", "--apply"
    )
    assert code == 0, out
    assert {auth for _m, _p, auth, _b in github_api} == {"Bearer admin-token"}
    sent = [(method, path) for method, path, _auth, _body in github_api]
    assert ("PUT", "/repos/acme/churn/rulesets/7") in sent and ("POST", "/repos/acme/churn/rulesets") in sent
    assert ("PUT", "/repos/acme/churn/automated-security-fixes") in sent
    prod = next(
        b for m, p, _a, b in github_api if (m, p) == ("PUT", f"/repos/acme/churn/environments/{LAST}")
    )
    assert prod["reviewers"] == [{"type": "User", "id": 11}]
    # An existing branch policy is skipped (decided from the listing, not from an error message).
    posted = [p for m, p in sent if m == "POST" and p.endswith("deployment-branch-policies")]
    assert f"/repos/acme/churn/environments/{LAST}/deployment-branch-policies" in posted
    assert f"/repos/acme/churn/environments/{FIRST}/deployment-branch-policies" not in posted


# --- cluster -------------------------------------------------------------------------------------


# Each apply saves what it got and, as `kubectl apply --prune --applyset` does, names the object
# the previous apply had and this one lacks (the ConfigMap release b added).
APPLY = """if [ "$1" = apply ]; then grep -qs "name: debug" "$FAKE_LOG.applied" && had=1
  cat "$5" > "$FAKE_LOG.applied"
  grep -q "name: debug" "$FAKE_LOG.applied" || [ -z "$had" ] || echo "configmap/debug pruned"; fi"""


def push_mode(work: Path) -> None:
    raw = yaml.safe_load((work / "params.yaml").read_text())
    raw["delivery"]["mode"] = "push"
    (work / "params.yaml").write_text(yaml.safe_dump(raw))
    sh("git", "commit", "-qam", "push mode", cwd=work)


def test_push_mode_applies_with_an_applyset_and_prunes_what_a_rollback_removes(
    gitops: Path, mlapp, tmp_path: Path, monkeypatch
) -> None:
    """KUBE_CONFIG as the kubeconfig itself for release a, base64 of it for release b and the
    rollback: either reaches kubectl through a private file (one cycle, not one per spelling)."""
    push_mode(gitops)
    log = tmp_path / "kubectl.log"
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv(
        "PATH",
        path_with(fake_kubectl(tmp_path, APPLY)),
    )
    kubeconfig = "apiVersion: v1\nkind: Config\nclusters: []\n"
    for char, spelling in (("a", kubeconfig), ("b", base64.b64encode(kubeconfig.encode()).decode())):
        monkeypatch.setenv("KUBE_CONFIG", spelling)
        log.write_text("")
        assert mlapp("delivery", "deploy", "--env", FIRST, "--image", image(char), "--push")[0] == 0
        lines = log.read_text().splitlines()
        assert "kind: Config" in lines and any(line.startswith("apply ") for line in lines), (char, lines)
        assert mlapp("delivery", "accept", "--env", FIRST, "--push", "--no-registry")[0] == 0
        if char == "a":  # release b adds an object
            (gitops / "infra/base/debug.yaml").write_text(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: debug\n"
            )
            kustomization = gitops / "infra/base/kustomization.yaml"
            kustomization.write_text(kustomization.read_text() + "  - debug.yaml\n")
            sh("git", "add", "-A", cwd=gitops)
            sh("git", "commit", "-qm", "debug", cwd=gitops)
    log.write_text("")
    code, out = mlapp("delivery", "rollback", "--env", FIRST, "--push")
    assert code == 0, out
    lines = log.read_text().splitlines()
    apply = next(line for line in lines if line.startswith("apply "))
    assert apply.startswith(f"apply -n mlapp-{FIRST} -f ") and apply.endswith(
        "--prune --applyset=configmaps/mlapp-applyset"
    )
    assert f"rollout status deployment/mlapp -n mlapp-{FIRST} --timeout=300s" in lines
    assert "kind: Config" in lines  # the kubeconfig reached kubectl through a private file
    applied = Path(f"{log}.applied").read_text()  # the last apply: the rollback
    assert "name: debug" not in applied and image("a") in applied
    assert "configmap/debug pruned" in out  # kubectl's own line for what the ApplySet pruned


def test_push_mode_without_a_cluster_says_what_to_configure(
    gitops: Path, mlapp, tmp_path: Path, monkeypatch
) -> None:
    push_mode(gitops)
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config
    monkeypatch.delenv("KUBECONFIG", raising=False)
    code, out = mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"), "--push")
    assert code == 0, out
    assert f"Add the secret `KUBE_CONFIG` to the GitHub environment `{FIRST}`" in summary.read_text()


def test_apply_failure_is_reported(gitops: Path, mlapp, tmp_path: Path, monkeypatch) -> None:
    push_mode(gitops)
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "kubectl.log"))
    monkeypatch.setenv("KUBE_CONFIG", "apiVersion: v1\nkind: Config\n")
    failing = 'if [ "$1" = rollout ]; then echo "deadline exceeded" >&2; exit 1; fi'
    monkeypatch.setenv("PATH", path_with(fake_kubectl(tmp_path, failing)))
    code, out = mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"), "--push")
    assert code != 0 and "deadline exceeded" in out


def test_bad_kube_config_is_explained(gitops: Path, mlapp, monkeypatch) -> None:
    push_mode(gitops)
    monkeypatch.setenv("KUBE_CONFIG", "not a kubeconfig!")
    code, out = mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"))
    assert code != 0 and "KUBE_CONFIG is neither a kubeconfig nor base64" in out


KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\npreferences: {}\n"


@pytest.mark.parametrize(
    "text",
    [
        "\n".join(textwrap.wrap(base64.b64encode(KUBECONFIG.encode()).decode(), 76)),  # `base64 FILE`
        "# the staging cluster\n" + KUBECONFIG,
        "---\n" + KUBECONFIG,
        "preferences: {}\nusers: []\ncontexts: []\nclusters: []\nkind: Config\napiVersion: v1\n",
    ],
    ids=["wrapped-base64", "comment-first", "document-start", "keys-in-another-order"],
)
def test_kube_config_is_read_whatever_its_first_line_and_base64_wrapped_or_not(
    monkeypatch, text: str
) -> None:
    monkeypatch.setenv("KUBE_CONFIG", text)
    with kube.cluster_env() as config:
        assert config is not None
        assert yaml.safe_load(Path(config["KUBECONFIG"]).read_text()) == yaml.safe_load(KUBECONFIG)
        # It holds credentials: its folder lets nobody else in (nor list, nor open the file).
        assert Path(config["KUBECONFIG"]).parent.stat().st_mode & 0o077 == 0


def test_a_kube_config_that_is_broken_yaml_is_named_with_kubectl_reason(monkeypatch) -> None:
    monkeypatch.setenv("KUBE_CONFIG", "apiVersion: v1\nkind: Config\nclusters: [\n  - name: : x\n")
    with pytest.raises(StateError) as raised, kube.cluster_env() as config:
        kube.kubectl("config", "current-context", env=config)  # any use of the cluster
    message = str(raised.value)
    assert message.startswith("KUBE_CONFIG (the variable) is not a kubeconfig kubectl can load: ")
    assert "yaml: line 3: " in message and "mlapp-kube-" not in message, message


def test_bootstrap_applies_namespaces_and_the_applications_with_the_repo_url(
    gitops: Path, mlapp, tmp_path: Path, monkeypatch
) -> None:
    log = tmp_path / "kubectl.log"
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv("KUBE_CONFIG", "apiVersion: v1\nkind: Config\n")
    monkeypatch.setenv(
        "PATH",
        path_with(
            fake_kubectl(
                tmp_path, 'if [ "$1" = apply ] && [ "$2" = -f ]; then cat "$3" > "$FAKE_LOG.apps"; fi'
            )
        ),
    )
    sh("git", "remote", "set-url", "origin", "git@github.com:acme/churn.git", cwd=gitops)
    code, out = mlapp("delivery", "bootstrap")
    assert code == 0, out
    lines = log.read_text().splitlines()
    assert any(line.startswith("apply -k infra/bootstrap") for line in lines)
    apps = [o for o in yaml.safe_load_all(Path(f"{log}.apps").read_text()) if o]
    assert [o["metadata"]["name"] for o in apps] == [
        "mlapp",
        *(f"mlapp-{env}" for env in PARAMS.environments),
    ]
    assert {o["spec"]["source"]["repoURL"] for o in apps[1:]} == {"https://github.com/acme/churn.git"}
    assert apps[0]["spec"]["sourceRepos"] == ["https://github.com/acme/churn.git"]
    # No remote to derive the URL from: one line saying what to pass, and nothing applied first.
    log.unlink()
    sh("git", "remote", "remove", "origin", cwd=gitops)
    code, out = mlapp("delivery", "bootstrap")
    assert (
        code != 0 and "StateError: no git remote 'origin': no https URL for Argo CD; pass --repo-url" in out
    )
    assert not [line for line in log.read_text().splitlines() if line.startswith("apply")]
    assert mlapp("delivery", "bootstrap", "--repo-url", "https://github.com/acme/churn.git")[0] == 0


def test_bootstrap_needs_a_cluster(gitops: Path, mlapp, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    code, out = mlapp("delivery", "bootstrap")
    assert code != 0 and "no cluster" in out


# --- image metadata ----------------------------------------------------------------------------


def test_image_metadata_outputs(gitops: Path, mlapp, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_REPOSITORY", "Acme/Churn")
    code, out = mlapp("delivery", "image-metadata")  # no model yet: the file to make, one line
    assert code != 0 and "ModelMissing: model models/model.ubj not found: run the pipeline first" in out, out
    (gitops / "models").mkdir()
    (gitops / "models/model.ubj").write_bytes(b"model bytes")
    (gitops / "models/model_spec.json").write_text("{}")  # a model is its booster and its spec
    out_file = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_REPOSITORY", "Acme/Churn")
    monkeypatch.setenv("GITHUB_SHA", "c" * 40)
    monkeypatch.setenv("GITHUB_OUTPUT", str(out_file))
    code, out = mlapp("delivery", "image-metadata")
    assert code == 0, out
    text = out_file.read_text()
    outputs = {}
    lines = iter(text.splitlines())
    for line in lines:
        key, delimiter = line.split("<<")
        value = []
        for item in lines:
            if item == delimiter:
                break
            value.append(item)
        outputs[key] = value
    assert outputs["image"] == ["ghcr.io/acme/churn"]  # GHCR names are lower case
    booster, spec = hashlib.sha256(b"model bytes").hexdigest(), hashlib.sha256(b"{}").hexdigest()
    listing = f"{booster}  model.ubj\n{spec}  model_spec.json\n"
    digest = hashlib.sha256(listing.encode()).hexdigest()  # booster and spec
    version = digest[:12]
    assert outputs["tags"] == [f"ghcr.io/acme/churn:{'c' * 40}", f"ghcr.io/acme/churn:model-{version}"]
    labels = dict(label.split("=", 1) for label in outputs["labels"])
    assert labels["org.opencontainers.image.revision"] == "c" * 40
    assert labels["org.opencontainers.image.source"] == "https://github.com/Acme/Churn"
    assert labels["io.mlapp.model.sha256"] == digest and "io.mlapp.model.spec_sha256" not in labels
    assert all(
        d.startswith("ghadelimiter_")
        for d in (line.split("<<")[1] for line in text.splitlines() if "<<" in line)
    )


def test_other_workflow_environments_get_main_only_deployments() -> None:
    three = PARAMS.model_copy(update={"environments": ["dev", FIRST, LAST]})
    sent = plan(delivery=three, other_envs=("ct",), allow_actions_prs=True)
    assert sent[("PUT", "repos/acme/churn/environments/ct")] == {
        "deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True}
    }
    assert ("POST", "repos/acme/churn/environments/ct/deployment-branch-policies") in sent
    assert "reviewers" not in sent[("PUT", "repos/acme/churn/environments/dev")]  # deploys on merge
    assert all("reviewers" in sent[("PUT", f"repos/acme/churn/environments/{e}")] for e in (FIRST, LAST))
    body = sent[("PUT", "repos/acme/churn/actions/permissions/workflow")]
    assert body == {"default_workflow_permissions": "read", "can_approve_pull_request_reviews": True}


@pytest.fixture
def old_service() -> Iterator[str]:
    """A service that is ready but keeps serving model ``0123456789ab`` (Argo CD has not synced)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # /readyz
            self.send_response(200)
            self.end_headers()

        def do_POST(self) -> None:  # /metadata
            body = json.dumps({"model_version": "0123456789ab"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    with answering(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as url:
        yield url


def test_wait_deadline_says_what_is_served_and_what_argo_cd_reports(
    gitops: Path, mlapp, tmp_path: Path, monkeypatch, old_service: str, reference_project: Path
) -> None:
    shutil.copytree(reference_project / "models", gitops / "models")  # the new model
    assert mlapp("delivery", "deploy", "--env", FIRST, "--image", image("a"), "--push")[0] == 0
    status = {"sync": {"status": "OutOfSync", "revision": "f" * 40}, "health": {"status": "Degraded",
              "message": "ImagePullBackOff"}}  # fmt: skip
    kubectl = f"if [ \"$1\" = get ]; then echo '{json.dumps({'status': status})}'; fi"
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "kubectl.log"))
    monkeypatch.setenv("KUBE_CONFIG", "apiVersion: v1\nkind: Config\n")
    monkeypatch.setenv("PATH", path_with(fake_kubectl(tmp_path, kubectl)))
    code, out = mlapp("delivery", "wait", "--env", FIRST, "--url", old_service, "--timeout", "1", "--fetch")
    version = load(gitops / "models").version  # what the new release's service reports
    assert code != 0
    assert f"after 1s {old_service} still serves model 0123456789ab, not model {version}" in out, out
    assert f"Argo CD Application argocd/mlapp-{FIRST}: sync OutOfSync at ffffffffffff, health Degraded" in out
    assert "(ImagePullBackOff)" in out


def test_wait_names_the_service_url_without_its_password(
    gitops: Path, monkeypatch, capsys, old_service: str, reference_project: Path
) -> None:
    """SERVICE_URL behind a basic-auth proxy (user:password@host): every line shows it as ***."""
    shutil.copytree(reference_project / "models", gitops / "models")
    assert run_main(monkeypatch, "delivery", "deploy", "--env", FIRST, "--image", image("a"), "--push") == 0
    monkeypatch.delenv("KUBE_CONFIG", raising=False)
    capsys.readouterr()
    url = old_service.replace("://", "://alice:s3cret-in-the-url@")
    assert (
        run_main(monkeypatch, "delivery", "wait", "--env", FIRST, "--url", url, "--timeout", "1", "--fetch")
        != 0
    )
    out = "".join(capsys.readouterr())
    assert "wait http://***@127.0.0.1:" in out and "still serves model 0123456789ab" in out, out
    assert "s3cret" not in out


def test_argocd_install_is_pinned_and_checked_by_sha256(
    gitops: Path, mlapp, tmp_path: Path, monkeypatch
) -> None:
    import hashlib

    import httpx

    from mlapp.delivery import cluster as argocd
    from mlapp.params import load_params

    served = "apiVersion: v1\nkind: List\nitems: []\n"
    asked: list[str] = []

    def fake_get(url: str, **_kwargs) -> httpx.Response:
        asked.append(url)
        return httpx.Response(200, text=served, request=httpx.Request("GET", url))

    monkeypatch.setattr(argocd.httpx, "get", fake_get)
    log = tmp_path / "kubectl.log"
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv("KUBE_CONFIG", "apiVersion: v1\nkind: Config\n")
    monkeypatch.setenv("PATH", path_with(fake_kubectl(tmp_path)))
    code, out = mlapp("delivery", "install-argocd")
    assert code != 0 and "install.yaml has sha256" in out  # not the pinned bytes: nothing applied
    pinned = load_params("params.yaml").delivery.argocd
    assert asked == [
        f"https://raw.githubusercontent.com/argoproj/argo-cd/{pinned.commit}/manifests/install.yaml"
    ]
    assert not log.exists() or "apply" not in log.read_text()

    raw = yaml.safe_load((gitops / "params.yaml").read_text())
    raw["delivery"]["argocd"]["install_sha256"] = hashlib.sha256(served.encode()).hexdigest()
    (gitops / "params.yaml").write_text(yaml.safe_dump(raw))
    code, out = mlapp("delivery", "install-argocd")
    assert code == 0, out
    calls = log.read_text().splitlines()
    assert "create namespace argocd" in calls
    assert any(
        c.startswith("apply -n argocd -f ") and c.endswith("--server-side --force-conflicts") for c in calls
    )
    crds = "crd/applications.argoproj.io crd/appprojects.argoproj.io"
    assert f"wait --for=condition=Established --timeout=120s {crds}" in calls


def test_argocd_install_offline_is_one_error_line(gitops: Path, mlapp, tmp_path: Path, monkeypatch) -> None:
    import httpx

    from mlapp.delivery import cluster as argocd

    def offline(url: str, **_kwargs) -> httpx.Response:
        raise httpx.ConnectError("[Errno -2] Name or service not known", request=httpx.Request("GET", url))

    monkeypatch.setattr(argocd.httpx, "get", offline)
    monkeypatch.setenv("KUBE_CONFIG", "apiVersion: v1\nkind: Config\n")
    monkeypatch.setenv("PATH", path_with(fake_kubectl(tmp_path)))
    code, out = mlapp("delivery", "install-argocd")
    assert code != 0, out
    # a StateError is `mlapp`'s one `error: ...` line (exit 2); the ConnectError was a traceback
    assert "StateError: Argo CD v" in out and "install.yaml could not be fetched: https://raw." in out
    assert "Name or service not known" in out
