"""Response bodies of the Octavia v2 API, for the OpenAPI document.

The handlers build their bodies in portus.api.views (plain dicts, fast); these models
only *describe* them, so documenting costs nothing per request. `install(app)` makes
the published document (/v2/openapi.json) say what the API really returns:

- the success body of the core resources (load balancers, listeners, pools, members,
  health monitors, status tree, statistics) and the success code of every operation
  (201 create, 202 accepted, 204 delete);
- the error answers: Octavia's fault body on 400 (which portus answers where FastAPI
  would say 422: that one is removed), 401, 403, 404, 406, 409, 500 and 503.

tests/clients/test_openapi.py checks real responses against the document and
tests/fuzz/test_schemathesis.py fuzzes the API with it.
"""
from __future__ import annotations

import copy
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, TypeAdapter

ProvisioningStatus = Literal["ACTIVE", "DELETED", "ERROR", "PENDING_CREATE", "PENDING_UPDATE",
                             "PENDING_DELETE"]
OperatingStatus = Literal["ONLINE", "DRAINING", "OFFLINE", "DEGRADED", "ERROR", "NO_MONITOR"]


class _Open(BaseModel):
    # Newer API versions add attributes; a client must ignore the ones it does not know.
    model_config = ConfigDict(extra="allow")


class Fault(BaseModel):
    """Every error, in Octavia's (WSME) format."""
    model_config = ConfigDict(extra="forbid")
    faultcode: Literal["Client", "Server"]
    faultstring: str
    debuginfo: str | None


class Ref(_Open):
    id: str


class Link(_Open):
    href: str
    rel: Literal["next", "previous"]


class _Common(_Open):
    id: str
    name: str
    provisioning_status: ProvisioningStatus
    operating_status: OperatingStatus
    admin_state_up: bool
    project_id: str
    tenant_id: str | None = None
    created_at: str | None
    updated_at: str | None
    tags: list[str]


class LoadBalancer(_Common):
    description: str
    vip_address: str | None
    vip_port_id: str | None
    vip_subnet_id: str | None
    vip_network_id: str | None
    vip_qos_policy_id: str | None = None
    provider: str
    flavor_id: str | None
    availability_zone: str | None
    listeners: list[Ref]
    pools: list[Ref]
    status_reason: str | None = None


class Listener(_Common):
    description: str
    protocol: str
    protocol_port: int
    connection_limit: int | None
    default_pool_id: str | None
    loadbalancers: list[Ref]
    insert_headers: dict[str, str]
    timeout_client_data: int | None
    timeout_member_connect: int | None
    timeout_member_data: int | None
    timeout_tcp_inspect: int | None
    l7policies: list[Ref]


class SessionPersistence(_Open):
    type: str
    cookie_name: str | None = None


class Pool(_Common):
    description: str
    protocol: str
    lb_algorithm: str
    session_persistence: SessionPersistence | None
    loadbalancers: list[Ref]
    listeners: list[Ref]
    members: list[Ref]
    healthmonitor_id: str | None
    tls_enabled: bool


class Member(_Common):
    address: str
    protocol_port: int
    weight: int | None
    backup: bool
    subnet_id: str | None
    monitor_address: str | None
    monitor_port: int | None
    pool_id: str | None = None


class HealthMonitor(_Common):
    type: str
    delay: int
    timeout: int
    max_retries: int
    max_retries_down: int | None
    http_method: str | None
    url_path: str | None
    expected_codes: str | None
    http_version: float | None
    domain_name: str | None
    pools: list[Ref]


class Stats(_Open):
    bytes_in: int
    bytes_out: int
    active_connections: int
    total_connections: int
    request_errors: int


class _StatusObject(_Open):
    id: str
    name: str
    provisioning_status: ProvisioningStatus
    operating_status: OperatingStatus


class MemberStatus(_StatusObject):
    address: str
    protocol_port: int


class HealthMonitorStatus(_StatusObject):
    type: str


class PoolStatus(_StatusObject):
    members: list[MemberStatus]
    health_monitor: HealthMonitorStatus | None = None


class ListenerStatus(_StatusObject):
    pools: list[PoolStatus]


class LoadBalancerStatus(_StatusObject):
    listeners: list[ListenerStatus]


# --- envelopes (Octavia wraps each body in a root key) --------------------------------

class LoadBalancerOne(_Open):
    loadbalancer: LoadBalancer


class LoadBalancerFull(_Open):
    """The answer to a fully populated create: the children come back in full."""
    loadbalancer: LoadBalancer


class LoadBalancerList(_Open):
    loadbalancers: list[LoadBalancer]
    loadbalancers_links: list[Link]


class ListenerOne(_Open):
    listener: Listener


class ListenerList(_Open):
    listeners: list[Listener]
    listeners_links: list[Link]


class PoolOne(_Open):
    pool: Pool


class PoolList(_Open):
    pools: list[Pool]
    pools_links: list[Link]


class MemberOne(_Open):
    member: Member


class MemberList(_Open):
    members: list[Member]
    members_links: list[Link]


class HealthMonitorOne(_Open):
    healthmonitor: HealthMonitor


class HealthMonitorList(_Open):
    healthmonitors: list[HealthMonitor]
    healthmonitors_links: list[Link]


class StatsOne(_Open):
    stats: Stats


class StatusTree(_Open):
    class _Statuses(_Open):
        loadbalancer: LoadBalancerStatus

    statuses: _Statuses


# (method, path as in the document) -> success body. `fields=` may shorten any body
# returned by a GET, so the documented success bodies of GETs make no field required
# beyond the envelope (see _loosen).
LB, LI, PO, HM = ("/v2/lbaas/loadbalancers", "/v2/lbaas/listeners", "/v2/lbaas/pools",
                  "/v2/lbaas/healthmonitors")
SUCCESS: dict[tuple[str, str], type[BaseModel]] = {
    ("get", LB): LoadBalancerList, ("post", LB): LoadBalancerOne,
    ("get", LB + "/{lb_id}"): LoadBalancerOne, ("put", LB + "/{lb_id}"): LoadBalancerOne,
    ("get", LB + "/{lb_id}/status"): StatusTree, ("get", LB + "/{lb_id}/statuses"): StatusTree,
    ("get", LB + "/{lb_id}/stats"): StatsOne,
    ("get", LI): ListenerList, ("post", LI): ListenerOne,
    ("get", LI + "/{listener_id}"): ListenerOne, ("put", LI + "/{listener_id}"): ListenerOne,
    ("get", LI + "/{listener_id}/stats"): StatsOne,
    ("get", PO): PoolList, ("post", PO): PoolOne,
    ("get", PO + "/{pool_id}"): PoolOne, ("put", PO + "/{pool_id}"): PoolOne,
    ("get", PO + "/{pool_id}/members"): MemberList, ("post", PO + "/{pool_id}/members"): MemberOne,
    ("get", PO + "/{pool_id}/members/{member_id}"): MemberOne,
    ("put", PO + "/{pool_id}/members/{member_id}"): MemberOne,
    ("get", HM): HealthMonitorList, ("post", HM): HealthMonitorOne,
    ("get", HM + "/{hm_id}"): HealthMonitorOne, ("put", HM + "/{hm_id}"): HealthMonitorOne,
}
ERRORS = {
    "400": "Bad request: the body, a parameter or a filter is invalid.",
    "401": "Not authenticated.",
    "403": "Not allowed by policy.",
    "404": "No such object, or not visible to this project.",
    "406": "Only application/json is supported.",
    "409": "Conflict: the load balancer is busy (PENDING_*), the object is immutable, "
           "or it collides with an existing one.",
    "500": "Unexpected error; see the API log.",
    "503": "Busy: retry the request.",
}
_REF = "#/components/schemas/{model}"


def _schemas(models: list[type[BaseModel]]) -> dict[str, Any]:
    """JSON Schemas of the models (and what they use), keyed by name."""
    out: dict[str, Any] = {}
    for model in models:
        schema = TypeAdapter(model).json_schema(ref_template=_REF, mode="serialization")
        for name, sub in schema.pop("$defs", {}).items():
            out[name] = sub
        out[model.__name__] = schema
    return out


def document(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(title=app.title, version=app.version, routes=app.routes,
                      openapi_version=app.openapi_version, description=app.description)
    components = doc.setdefault("components", {}).setdefault("schemas", {})
    components.update(_schemas([Fault, *set(SUCCESS.values())]))
    empty = _empty_success(app)
    # `?fields=a,b` may return part of any object a GET shows: same types, nothing required.
    for name in ("LoadBalancer", "Listener", "Pool", "Member", "HealthMonitor"):
        loose = copy.deepcopy(components[name])
        loose.pop("required", None)
        loose["title"] = name + " (fields=)"
        components[name + "Fields"] = loose
    for path, ops in doc.get("paths", {}).items():
        for method, op in ops.items():
            responses = op.setdefault("responses", {})
            responses.pop("422", None)  # portus answers 400 (a Fault) instead
            model = SUCCESS.get((method, path))
            if (method, path) in empty:
                for code in [c for c in responses if c.startswith("2")]:
                    responses[code] = {"description": responses[code].get(
                        "description", "Accepted")}
            elif model is not None:
                code = next((c for c in responses if c.startswith("2")), "200")
                schema = {"$ref": _REF.format(model=model.__name__)}
                if method == "get":
                    schema = _fields_variant(model, components)
                responses[code] = {"description": responses.get(code, {}).get(
                    "description", "Successful Response"),
                    "content": {"application/json": {"schema": schema}}}
            for code, description in ERRORS.items():
                responses.setdefault(code, {"description": description, "content": {
                    "application/json": {"schema": {"$ref": _REF.format(model="Fault")}}}})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    return doc


def _empty_success(app: FastAPI) -> set[tuple[str, str]]:
    """Operations that answer 202 or 204 with no body: their handlers return a bare
    Response (so FastAPI has no response model for them)."""
    out: set[tuple[str, str]] = set()

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                if route.response_model is None and route.status_code in (202, 204):
                    out.update((m.lower(), prefix + route.path_format)
                               for m in route.methods or ())
            elif hasattr(route, "original_router"):  # FastAPI's included routers
                context = getattr(route, "include_context", None)
                walk(route.original_router.routes, prefix + getattr(context, "prefix", ""))

    walk(list(app.routes), "")
    return out


def _fields_variant(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    """The success body of a GET, where `fields=` may leave attributes out."""
    schema = copy.deepcopy(components[model.__name__])
    for prop in schema.get("properties", {}).values():
        ref = prop.get("$ref") or prop.get("items", {}).get("$ref")
        if ref is None:
            continue
        target = ref.rsplit("/", 1)[1]
        if target + "Fields" in components:
            new_ref = _REF.format(model=target + "Fields")
            if "$ref" in prop:
                prop["$ref"] = new_ref
            else:
                prop["items"]["$ref"] = new_ref
    schema["title"] = model.__name__
    return schema


def install(app: FastAPI) -> None:
    """Publish `document(app)` (built once, on the first request for it)."""
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
