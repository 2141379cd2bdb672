"""/metrics is no open door where the service is guarded, and Prometheus is wired to get in.

- the middleware (``auth.BearerAuth``): /metrics takes tokens of its own, else the API's, and is
  open only where nothing is guarded (``make serve``);
- the rendered overlays mount a metrics Secret of their own, the ServiceMonitor sends a bearer
  token from a Secret, and the NetworkPolicy admits the port it scrapes;
- a real server configured as the rendered Deployment (its token files written where the Secrets
  would be mounted) refuses an unauthenticated scrape and answers the ServiceMonitor's.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from mlapp.delivery import cluster, kube
from mlapp.serving import auth
from mlapp.serving.local import free_ports
from tests.conftest import REPO, running_server
from tests.serving.conftest import PARAMS

OVERLAYS = [REPO / PARAMS.delivery.infra_dir / "overlays" / env for env in PARAMS.delivery.environments]
MONITORING = REPO / PARAMS.delivery.infra_dir / "monitoring"
API, METRICS = "api-token-0123", "metrics-token-4567"  # test tokens


# --- the middleware ----------------------------------------------------------------------------


async def ok(_request: Request) -> Response:
    return PlainTextResponse("served")


def guarded(api: str = "", metrics: str = "") -> httpx.AsyncClient:
    """A small app behind the middleware, with these tokens (none: that variable is not set)."""
    app = Starlette(routes=[Route("/predict", ok, methods=["POST"]), Route("/metrics", ok),
                            Route("/livez", ok)])  # fmt: skip
    wrapped = auth.BearerAuth(app, api=auth.Tokens(api, None), metrics=auth.Tokens(metrics, None))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=wrapped), base_url="http://t")


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.mark.anyio
async def test_without_tokens_everything_is_open_as_make_serve_runs() -> None:
    async with guarded() as client:
        assert (await client.get("/metrics")).status_code == 200
        assert (await client.post("/predict")).status_code == 200


@pytest.mark.anyio
async def test_tokens_for_predict_only_guard_metrics_too() -> None:
    """They left /metrics (model version, threshold, scores, error rates) open to anyone."""
    async with guarded(api=API) as client:
        refused = await client.get("/metrics")
        assert refused.status_code == 401, refused.text
        assert refused.json() == {"error": "missing or invalid bearer token"}
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert (await client.get("/metrics", headers=bearer("wrong"))).status_code == 401
        assert (await client.get("/metrics", headers=bearer(API))).text == "served"
        assert (await client.get("/livez")).status_code == 200


@pytest.mark.anyio
async def test_metrics_tokens_of_their_own_are_least_privilege() -> None:
    async with guarded(api=API, metrics=METRICS) as client:
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers=bearer(API))).status_code == 401  # a client reads none
        assert (await client.get("/metrics", headers=bearer(METRICS))).status_code == 200
        assert (
            await client.post("/predict", headers=bearer(METRICS))
        ).status_code == 401  # a scraper cannot predict
        assert (await client.post("/predict", headers=bearer(API))).status_code == 200
    async with guarded(metrics=METRICS) as client:
        assert (await client.post("/predict")).status_code == 200
        assert (await client.get("/metrics")).status_code == 401


def twice(first: str, second: str) -> list[tuple[str, str]]:
    """Two ``Authorization`` headers, in this order (a list: a dict would keep one)."""
    return [("authorization", f"Bearer {first}"), ("authorization", f"Bearer {second}")]


def assert_ambiguous(refused: httpx.Response) -> None:
    """A 400 in the 401's style: its JSON shape and an RFC 6750 challenge (invalid_request)."""
    assert refused.status_code == 400, (refused.status_code, refused.text)
    assert refused.json() == {"error": "send one Authorization header"}
    assert refused.headers["www-authenticate"] == 'Bearer realm="mlapp", error="invalid_request"'


@pytest.mark.anyio
async def test_two_authorization_headers_are_refused_whichever_comes_first() -> None:
    """Only the first was read: bad-then-good was a 401, good-then-bad let the bad one in."""
    async with guarded(api=API, metrics=METRICS) as client:
        for path, good in (("/predict", API), ("/metrics", METRICS)):
            for headers in (twice("wrong", good), twice(good, "wrong"), twice(good, good)):
                assert_ambiguous(await client.request("POST" if path == "/predict" else "GET", path,
                                                      headers=headers))  # fmt: skip
        assert (await client.get("/livez", headers=twice("wrong", API))).status_code == 200  # open


# --- the manifests -----------------------------------------------------------------------------


class TokenFile(NamedTuple):
    path: str  # in the container
    secret: str
    key: str
    optional: bool


def token_files(deployment: dict[str, Any]) -> dict[str, TokenFile]:
    """``MLAPP_*_TOKENS_FILE`` -> the Secret and key the pod mounts at the path it names."""
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    found = {}
    for env in (e for e in container["env"] if e["name"].endswith("_TOKENS_FILE")):
        path = Path(env["value"])
        mount = next(m for m in container["volumeMounts"] if path.parent == Path(m["mountPath"]))
        assert mount.get("readOnly") is True, mount
        volume = volumes[mount["name"]]
        sources = (
            [s["secret"] for s in volume["projected"]["sources"]]
            if "projected" in volume
            else [{**volume["secret"], "name": volume["secret"]["secretName"]}]
        )
        secret, key = next((s, i["key"]) for s in sources for i in s["items"] if i["path"] == path.name)
        found[env["name"]] = TokenFile(env["value"], secret["name"], key, secret.get("optional", False))
    return found


def container_port(pod: dict[str, Any], port: int | str) -> int:
    """A port by number or by the container's name for it."""
    named = {p["name"]: p["containerPort"] for c in pod["containers"] for p in c["ports"]}
    return named[port] if isinstance(port, str) else port


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_each_overlay_guards_metrics_with_a_secret_of_its_own_that_prometheus_sends(overlay: Path) -> None:
    objects = kube.render(overlay)
    (deployment,) = kube.of_kind(objects, "Deployment")
    files = token_files(deployment)
    api, metrics = files[f"{auth.API_ENV}_FILE"], files[f"{auth.METRICS_ENV}_FILE"]
    assert api.secret != metrics.secret, "one Secret for both: a Prometheus token could predict"
    assert api.optional and metrics.optional  # a missing Secret is 401s, not a pod that never starts
    # The API's Secret is the one docs/serving.md has a team create and the kind e2e creates.
    assert (api.secret, api.key) == (cluster.API_TOKENS_SECRET.format(app=PARAMS.delivery.app), "tokens")
    assert deployment["metadata"]["namespace"] == cluster.namespace(PARAMS.delivery, overlay.name, REPO)

    (monitor,) = kube.of_kind(kube.render(MONITORING), "ServiceMonitor")
    (endpoint,) = monitor["spec"]["endpoints"]
    authorization = endpoint["authorization"]
    assert authorization.get("type", "Bearer") == "Bearer"
    assert set(authorization["credentials"]) == {"name", "key"}  # a Secret of the monitoring namespace
    # The port the ServiceMonitor scrapes is one the NetworkPolicy lets in from anywhere (Prometheus).
    pod = deployment["spec"]["template"]["spec"]
    (service,) = kube.of_kind(objects, "Service")
    scraped = next(p for p in service["spec"]["ports"] if p["name"] == endpoint["port"])
    (policy,) = kube.of_kind(objects, "NetworkPolicy")
    admitted = [
        rule
        for rule in policy["spec"]["ingress"]
        if container_port(pod, scraped["targetPort"])
        in {container_port(pod, p["port"]) for p in rule["ports"]}
    ]
    assert admitted and all("from" not in rule for rule in admitted), policy["spec"]["ingress"]


# --- a real server, configured as the overlays configure it ------------------------------------


@pytest.fixture(scope="module")
def overlay_server(serving_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mlapp serving serve`` with the rendered Deployment's token variables, each file written
    where its Secret would be mounted (under a temporary folder): the API and the metrics token."""
    root = tmp_path_factory.mktemp("metrics-auth")
    port, probe_port = free_ports(2)
    params = yaml.safe_load((serving_root / "params.yaml").read_text())
    params["serving"].update(workers=1, probe_port=probe_port)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    (deployment,) = kube.of_kind(kube.render(OVERLAYS[-1]), "Deployment")
    tokens = {f"{auth.API_ENV}_FILE": API, f"{auth.METRICS_ENV}_FILE": METRICS}
    env = {  # the tokens come from the files alone, as in the pod
        **{k: v for k, v in os.environ.items() if not k.startswith((auth.API_ENV, auth.METRICS_ENV))},
        "MLAPP_MODEL_DIR": str(serving_root / "models"),
        "MLAPP_PREDICTION_LOG": str(root / "predictions.jsonl"),
    }
    for name, file in token_files(deployment).items():
        path = root / Path(file.path).relative_to("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(tokens[name] + "\n")
        env[name] = str(path)
    argv = [sys.executable, "-m", "mlapp", "--params", str(root / "params.yaml"), "serving", "serve"]
    with running_server(
        [*argv, "--port", str(port)], port, serving_root, root / "server.log", env=env
    ) as url:
        yield url


@pytest.mark.slow
def test_an_unauthenticated_scrape_is_refused_and_prometheus_gets_in(overlay_server: str, records) -> None:
    url = overlay_server
    with httpx.Client(base_url=url, timeout=10) as client:
        for headers in ({}, bearer("wrong"), bearer(API), {"authorization": METRICS}):
            refused = client.get("/metrics", headers=headers)
            assert refused.status_code == 401, (headers, refused.status_code)  # never a 5xx
            assert refused.json() == {"error": "missing or invalid bearer token"}
            assert "mlapp_" not in refused.text
        assert (
            client.post("/predict", json={"records": records[:1]}, headers=bearer(METRICS)).status_code == 401
        )
        assert client.post("/predict", json={"records": records[:1]}, headers=bearer(API)).status_code == 200
        scraped = client.get("/metrics", headers=bearer(METRICS))  # what the ServiceMonitor sends
        assert scraped.status_code == 200
        assert "mlapp_model_info" in scraped.text and "mlapp_prediction_score_count" in scraped.text
        assert client.get("/livez").status_code == 200 and client.get("/readyz").status_code == 200


@pytest.mark.slow
def test_a_real_server_refuses_two_authorization_headers(overlay_server: str, records) -> None:
    """Through the server's HTTP parser (uvicorn keeps both headers, in order), on both guards."""
    with httpx.Client(base_url=overlay_server, timeout=10) as client:
        for good_first in (False, True):
            for path, good in (("/predict", API), ("/metrics", METRICS)):
                headers = twice(good, "wrong") if good_first else twice("wrong", good)
                json = {"records": records[:1]} if path == "/predict" else None
                assert_ambiguous(client.request("POST" if json else "GET", path, json=json, headers=headers))
