"""The published OpenAPI document (/v2/openapi.json): what the API accepts and answers.

FastAPI derives operations, parameters and request bodies from the routes and the
request schemas. `document(app)` adds to every operation:

- its success answer: the route's code (201 create, 202 accepted, 204 delete) and the
  body, an envelope around a model of portus.api.response_models (FAMILIES and EXTRA say
  which); on a GET that takes `fields=`, any attribute may be left out;
- the errors it can answer, each with Octavia's fault body (see `_error_codes`). portus
  answers 400 where FastAPI would say 422, so 422 is removed.

tests/openapi_conformance.py checks real responses (functional and client tests)
against the document; tests/fuzz/test_schemathesis.py fuzzes the API with it.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter

from portus.api import auth, deps, response_models as rm

LB = "/v2/lbaas"
NET = "/networking/v2.0"
_REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Family:
    """A collection at `path` (path parameters written `{}`) and its objects at
    `path/{}`: GET lists `{plural: [...], <links>: [...]}`, POST creates and GET/PUT
    of one object answer `{key: {...}}`."""
    path: str
    key: str
    plural: str
    model: type[BaseModel]
    links: str | None = ""  # the list's links key: "" is plural + "_links"; None: none
    links_model: str = "Link"  # what that key holds: a list of these (Link), or one
    paged: bool = True  # a collections.list_response: bad filters, sorts, markers are 400
    fields: bool = True  # `fields=` may shorten the objects a GET shows
    created: type[BaseModel] | None = None  # the POST answer, when it differs


FAMILIES = (
    Family(LB + "/loadbalancers", "loadbalancer", "loadbalancers", rm.LoadBalancer,
           created=rm.LoadBalancerCreated),
    Family(LB + "/listeners", "listener", "listeners", rm.Listener),
    Family(LB + "/pools", "pool", "pools", rm.Pool),
    Family(LB + "/pools/{}/members", "member", "members", rm.Member),
    Family(LB + "/healthmonitors", "healthmonitor", "healthmonitors", rm.HealthMonitor),
    Family(LB + "/l7policies", "l7policy", "l7policies", rm.L7Policy),
    Family(LB + "/l7policies/{}/rules", "rule", "rules", rm.L7Rule),
    Family(LB + "/quotas", "quota", "quotas", rm.Quota, fields=False),
    Family(LB + "/flavors", "flavor", "flavors", rm.Flavor),
    Family(LB + "/flavorprofiles", "flavorprofile", "flavorprofiles", rm.FlavorProfile,
           links="flavorprofile_links"),
    Family(LB + "/availabilityzones", "availability_zone", "availability_zones",
           rm.AvailabilityZone),
    Family(LB + "/availabilityzoneprofiles", "availability_zone_profile",
           "availability_zone_profiles", rm.AvailabilityZoneProfile,
           links="availability_zone_profile_links"),
    Family(LB + "/providers", "provider", "providers", rm.Provider, links=None, paged=False),
    Family("/v2/octavia/amphorae", "amphora", "amphorae", rm.Amphora),
    Family(NET + "/subnets", "subnet", "subnets", rm.Subnet, links=None, paged=False),
    Family(NET + "/networks", "network", "networks", rm.Network, links=None, paged=False),
    Family(NET + "/ports", "port", "ports", rm.Port, links=None, paged=False),
    Family(NET + "/qos/policies", "policy", "policies", rm.Nothing, links=None, paged=False),
    Family(NET + "/security-groups", "security_group", "security_groups", rm.Nothing,
           links=None, paged=False),
    Family("/projects", "project", "projects", rm.Project, links="links",
           links_model="ProjectListLinks", paged=False, fields=False),
)


@dataclass(frozen=True)
class Root:
    """A body `{key: model}` (`{key: [model, ...]}` if many), or the model itself if
    key is empty."""
    model: type[BaseModel]
    key: str = ""
    many: bool = False
    fields: bool = False


EXTRA: dict[tuple[str, str], Root] = {
    ("get", LB + "/loadbalancers/{}/status"): Root(rm.StatusTree),
    ("get", LB + "/loadbalancers/{}/statuses"): Root(rm.StatusTree),
    ("get", LB + "/loadbalancers/{}/stats"): Root(rm.Stats, "stats"),
    ("get", LB + "/listeners/{}/stats"): Root(rm.Stats, "stats"),
    ("get", LB + "/quotas/defaults"): Root(rm.Quota, "quota"),
    ("get", LB + "/quotas/{}/default"): Root(rm.Quota, "quota"),
    ("get", LB + "/providers/{}/flavor_capabilities"):
        Root(rm.Capability, "flavor_capabilities", many=True, fields=True),
    ("get", LB + "/providers/{}/availability_zone_capabilities"):
        Root(rm.Capability, "availability_zone_capabilities", many=True, fields=True),
    ("get", "/v2/octavia/amphorae/{}/stats"): Root(rm.AmphoraStats, "amphora_stats", many=True),
    ("get", "/"): Root(rm.Versions),
    ("get", "/v2"): Root(rm.VersionOne),
    ("get", "/networking/"): Root(rm.NetworkingVersions),
    ("post", "/v1/secrets"): Root(rm.SecretRef),
    ("get", "/v1/secrets"): Root(rm.SecretList),
    ("get", "/v1/secrets/{}"): Root(rm.Secret),
}

# Answers that are not JSON: a secret's payload is its stored bytes, in the content
# type they were stored with (text/plain, application/octet-stream, application/pkcs*).
RAW: dict[tuple[str, str], dict[str, Any]] = {
    ("get", "/v1/secrets/{}/payload"): {
        "text/plain": {"schema": {"type": "string"}},
        "application/*": {"schema": {"type": "string", "format": "binary"}}},
}

ERRORS = {
    "400": "Bad request: the body, a parameter or a filter is invalid.",
    "401": "Not authenticated.",
    "403": "Not allowed by policy, or over quota.",
    "404": "No such object, or not visible to this project.",
    "406": "Only application/json is supported.",
    "409": "Conflict: the load balancer is busy (PENDING_*), the object is in use or "
           "immutable, or it collides with an existing one.",
    "413": "The request body is larger than [api] max_request_body_size.",
    "500": "Unexpected error; see the API log.",
    "501": "The provider does not support a requested option.",
    "503": "Busy: retry the request.",
}
_PROVIDER_DECIDES = {"501"}  # a provider driver checks the request
# Operations whose errors the rules in _error_codes do not foresee: codes added, removed.
ERROR_EXCEPTIONS: dict[tuple[str, str], tuple[set[str], set[str]]] = {
    ("post", LB + "/loadbalancers"): (_PROVIDER_DECIDES, set()),  # provider, flavor
    ("delete", LB + "/loadbalancers/{}"): ({"400"}, set()),  # children without cascade
    # A parent or pool named in the body that does not exist is 404, as in Octavia.
    ("post", LB + "/listeners"): (_PROVIDER_DECIDES | {"404"}, set()),  # L7, default pool
    ("post", LB + "/pools"): (_PROVIDER_DECIDES | {"404"}, set()),  # lb_algorithm
    ("post", LB + "/healthmonitors"): ({"404"}, set()),
    ("put", LB + "/pools/{}"): (_PROVIDER_DECIDES, set()),
    ("post", LB + "/l7policies"): (_PROVIDER_DECIDES | {"404"}, set()),  # L7 on TCP
    ("post", LB + "/flavorprofiles"): (_PROVIDER_DECIDES, set()),
    ("put", LB + "/flavorprofiles/{}"): (_PROVIDER_DECIDES, set()),
    ("post", LB + "/availabilityzoneprofiles"): (_PROVIDER_DECIDES, set()),
    ("put", LB + "/availabilityzoneprofiles/{}"): (_PROVIDER_DECIDES, set()),
    # A provider that is not enabled is 400, an unknown one 501; the name is no object.
    ("get", LB + "/providers/{}/flavor_capabilities"): ({"400", "501"}, {"404"}),
    ("get", LB + "/providers/{}/availability_zone_capabilities"): ({"400", "501"}, {"404"}),
    # Every project has quotas: only a reset of one that has none is 404.
    ("get", LB + "/quotas/{}"): (set(), {"404"}),
    ("put", LB + "/quotas/{}"): (set(), {"404"}),
    ("get", LB + "/quotas/{}/default"): (set(), {"404"}),
    ("get", "/projects"): ({"404"}, set()),  # the identity shim answers 404 unless noauth
    # Member checks of the provider: SR-IOV ports, UDP/SCTP members of another IP version.
    ("post", LB + "/pools/{}/members"): (_PROVIDER_DECIDES, set()),
    ("put", LB + "/pools/{}/members"): (_PROVIDER_DECIDES, set()),
    ("get", "/v1/secrets"): ({"400"}, set()),  # limit and offset
}


def normalized(path: str) -> str:
    """The path with its parameters written `{}`."""
    return re.sub(r"\{[^}]+\}", "{}", path)


def _success(method: str, path: str) -> tuple[Root, bool] | None:
    """The success body of an operation, and whether `fields=` may shorten it."""
    extra = EXTRA.get((method, path))
    if extra is not None:
        return extra, extra.fields
    for family in FAMILIES:
        if path == family.path:
            if method == "get":
                return Root(family.model, family.plural, many=True), family.fields
            if method == "post":
                return Root(family.created or family.model, family.key), False
        elif path == family.path + "/{}" and method in ("get", "put"):
            return Root(family.model, family.key), family.fields and method == "get"
    return None


def _paged(method: str, path: str) -> bool:
    return method == "get" and any(f.paged and f.path == path for f in FAMILIES)


def _links(path: str) -> tuple[str, dict[str, Any]] | None:
    for family in FAMILIES:
        if family.path == path and family.links is not None:
            ref = {"$ref": _REF.format(model=family.links_model)}
            if family.links_model == "Link":
                return family.links or family.plural + "_links", {"type": "array", "items": ref}
            return family.links, ref
    return None


def _uses(dependant: Dependant, call: Any) -> bool:
    return any(d.call is call or _uses(d, call) for d in dependant.dependencies)


def _error_codes(method: str, path: str, op: dict[str, Any], route: APIRoute | None) -> set[str]:
    codes = {"406", "500"}
    if path not in auth.OPEN_PATHS:
        codes.add("401")
    policy = route is not None and _uses(route.dependant, deps.caller)
    if policy:
        codes.add("403")
    if "{" in path:
        codes.add("404")
    if "requestBody" in op:
        codes |= {"400", "413"}
    if policy and method in ("post", "put", "delete"):
        codes |= {"409", "503"}  # the pending lock, conflicts, busy databases
    if _paged(method, path):
        codes.add("400")
    added, removed = ERROR_EXCEPTIONS.get((method, path), (set(), set()))
    return (codes | added) - removed


def _routes(app: FastAPI) -> dict[tuple[str, str], APIRoute]:
    """(method, normalized path) -> route, through FastAPI's included routers."""
    out: dict[tuple[str, str], APIRoute] = {}

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                for method in route.methods or ():
                    out.setdefault((method.lower(), normalized(prefix + route.path_format)),
                                   route)
            elif hasattr(route, "original_router"):
                context = getattr(route, "include_context", None)
                walk(route.original_router.routes, prefix + getattr(context, "prefix", ""))

    walk(list(app.routes), "")
    return out


def _schemas(models: list[type[BaseModel]]) -> dict[str, Any]:
    """JSON Schemas of the models (and of what they use), keyed by name."""
    out: dict[str, Any] = {}
    for model in models:
        schema = TypeAdapter(model).json_schema(ref_template=_REF, mode="serialization")
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out


def _shortened(name: str, components: dict[str, Any]) -> str:
    """A component for `name` as `fields=` may shorten it: nothing required."""
    short = name + "Fields"
    if short not in components:
        loose = copy.deepcopy(components[name])
        loose.pop("required", None)
        loose["title"] = name + " (fields=)"
        components[short] = loose
    return short


def _body_schema(root: Root, shortened: bool, path: str,
                 components: dict[str, Any]) -> dict[str, Any]:
    name = root.model.__name__
    if shortened:
        name = _shortened(name, components)
    inner: dict[str, Any] = {"$ref": _REF.format(model=name)}
    if not root.key:
        return inner
    if root.many:
        inner = {"type": "array", "items": inner}
    properties = {root.key: inner}
    links = _links(path) if root.many else None
    if links is not None:
        properties[links[0]] = links[1]
    return {"type": "object", "properties": properties, "required": list(properties)}


def document(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(title=app.title, version=app.version, routes=app.routes,
                      openapi_version=app.openapi_version, description=app.description)
    components = doc.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    models: list[type[BaseModel]] = [rm.Fault, rm.Link, rm.ProjectListLinks, *(r.model for r in EXTRA.values()),
              *(f.model for f in FAMILIES), *(f.created for f in FAMILIES if f.created)]
    components.update(_schemas(list(dict.fromkeys(models))))
    routes = _routes(app)
    fault = {"application/json": {"schema": {"$ref": _REF.format(model="Fault")}}}
    for raw_path, ops in doc.get("paths", {}).items():
        path = normalized(raw_path)
        for method, op in ops.items():
            route = routes.get((method, path))
            code = str(route.status_code or 200) if route is not None else "200"
            old = op.get("responses", {})
            description = next((r.get("description") for c, r in old.items()
                                if c.startswith("2")), "Successful Response")
            success: dict[str, Any] = {"description": description}
            found = _success(method, path)
            if found is not None:
                schema = _body_schema(found[0], found[1], path, components)
                success["content"] = {"application/json": {"schema": schema}}
            elif (method, path) in RAW:
                success["content"] = RAW[(method, path)]
            elif route is not None and route.response_model is not None:
                # Not described yet (tests/unit/test_openapi_document.py says so): what
                # FastAPI derived from the handler's return type.
                success = old.get(code) or next(iter(old.values()), success)
            responses = {code: success}
            for error in sorted(_error_codes(method, path, op, route)):
                responses[error] = {"description": ERRORS[error], "content": fault}
            op["responses"] = responses
    return doc


def install(app: FastAPI) -> None:
    """Publish `document(app)` (built once, on the first request for it)."""
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
