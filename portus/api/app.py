"""The API application: routers, error mapping, request ids, version discovery."""
from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portus.api import amphorae
from portus.api import auth
from portus.api import errors
from portus.api import availabilityzones, flavors, profiles
from portus.api import providers, quotas
from portus.api import http_limits
from portus.api import healthmonitors
from portus.api import l7policies
from portus.api import l7rules
from portus.api import identity
from portus.api import listeners
from portus.api import loadbalancers
from portus.api import members
from portus.api import networking
from portus.api import policy
from portus.api import pools
from portus.api import responses
from portus.api import secrets
from portus.api.deps import Services

# Minor versions whose behaviour portus implements for the resources it serves.
API_VERSIONS = [f"v2.{n}" for n in range(0, 31)]
VERSION_UPDATED = "2024-08-01T00:00:00Z"
OPENAPI = "/v2/openapi.json"
LBAAS = ("/v2/lbaas", "/v2.0/lbaas", "/v2")  # the first is the one in the OpenAPI document
# (router, URL prefixes): one line each, so additions do not touch each other.
ROUTERS = [
    (loadbalancers.router, LBAAS),
    (listeners.router, LBAAS),
    (pools.router, LBAAS),
    (members.router, LBAAS),
    (healthmonitors.router, LBAAS),
    (quotas.router, LBAAS),
    (providers.router, LBAAS),
    (flavors.router, LBAAS),
    (profiles.flavor_profiles_router, LBAAS),
    (availabilityzones.router, LBAAS),
    (profiles.availability_zone_profiles_router, LBAAS),
    (l7policies.router, LBAAS),
    (l7rules.router, LBAAS),
    (amphorae.router, ("/v2/octavia", "/v2.0/octavia")),
    (amphorae.lb_router, LBAAS),  # PUT /loadbalancers/{id}/failover
    (networking.router, networking.PREFIXES),  # read-only Neutron shim for CLI lookups
    (networking.discovery, ("/networking",)),
    (identity.router, ("",)),  # noauth: `openstack ... --project X` looks X up
    (secrets.router, ("",)),  # Barbican-compatible /v1/secrets for TLS material
]


def create_app(svc: Services) -> FastAPI:
    app = FastAPI(title="portus", version="2.30", docs_url=None, redoc_url=None,
                  openapi_url=OPENAPI)
    app.state.services = svc
    for router, prefixes in ROUTERS:
        for prefix in prefixes:
            app.include_router(router, prefix=prefix, include_in_schema=prefix == prefixes[0])
    responses.install(app)  # the OpenAPI document describes responses and faults too

    app.add_exception_handler(errors.APIError, errors.api_error_handler)
    app.add_exception_handler(RequestValidationError, errors.validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, errors.http_error_handler)
    app.add_exception_handler(Exception, errors.unexpected_error_handler)
    # Authentication sits inside CORS (preflights need no token) and the request id.
    app.state.policy = policy.Policy.load(svc.cfg.api.policy_file)
    app.add_middleware(auth.AuthMiddleware, authenticator=auth.build(svc.cfg, svc.db))
    http_limits.install(app, svc.cfg.api)  # body size limit, CORS (inside the request id)

    app.add_middleware(RequestId)
    app.add_middleware(JsonSuffix)

    @app.get("/")
    def versions(request: Request) -> dict[str, Any]:
        return {"versions": _versions(request, svc)}

    @app.get("/v2")
    @app.get("/v2.0", include_in_schema=False)
    def version_v2(request: Request) -> dict[str, Any]:
        return {"version": _versions(request, svc)[-1]}

    return app


def _is_payload(path: str) -> bool:
    """A secret's payload is served in its own content type, as Barbican does."""
    return path.startswith(secrets.PREFIX + "/") and path.endswith("/payload")


class RequestId:
    """Plain ASGI (no per-request task and body streams, as a BaseHTTPMiddleware has):
    an X-Openstack-Request-Id on every answer, 406 unless the client accepts JSON."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = (b"x-openstack-request-id", b"req-" + str(uuid.uuid4()).encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        accept = Headers(scope=scope).get("accept", "")
        if accept and not _accepts_json(accept) and not _is_payload(scope["path"]):
            fault = errors.fault(406, "Only application/json is supported.")
            await fault(scope, receive, send_with_id)
            return
        await self.app(scope, receive, send_with_id)


class JsonSuffix:
    """As Octavia (pecan's extension guessing): `/v2/lbaas/loadbalancers.json` is
    `/v2/lbaas/loadbalancers`. Only under the API's base paths, and not the OpenAPI
    document, whose own name ends in .json."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (scope["type"] == "http" and path.endswith(".json") and path != OPENAPI
                and path.startswith(("/v2/", "/v2.0/"))):
            scope = dict(scope, path=path[:-5])
            raw = scope.get("raw_path")
            if isinstance(raw, bytes) and raw.endswith(b".json"):
                scope["raw_path"] = raw[:-5]
        await self.app(scope, receive, send)


def _accepts_json(accept: str) -> bool:
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in ("application/json", "application/*", "*/*", "*"):
            return True
    return False


def _versions(request: Request, svc: Services) -> list[dict[str, Any]]:
    base = (svc.cfg.api.api_base_uri or str(request.base_url)).rstrip("/")
    last = API_VERSIONS[-1]
    return [{"id": v, "status": "CURRENT" if v == last else "SUPPORTED",
             "updated": VERSION_UPDATED, "links": [{"href": f"{base}/v2", "rel": "self"}]}
            for v in API_VERSIONS]
