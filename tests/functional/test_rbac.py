"""RBAC: every call of every resource, for each persona, on its own project (p1) and on
another project (p2), under the token strategy with Octavia's default policy.

The whole matrix runs on SQLite; one persona (a plain project member) walks every
resource on every database.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pytest

from tests.functional.auth_helpers import (  # noqa: F401  (fixtures)
    PERSONAS, TokenApi, _token_session, token_api)
from tests.functional.conftest import assert_fault

READ, WRITE, MEMBER_LIST = "read", "write", "member-list"

# persona -> the kinds of calls it may make on its own project and on another one.
ALLOWED: dict[str, tuple[set[str], set[str]]] = {
    "admin": ({READ, WRITE, MEMBER_LIST}, {READ, WRITE, MEMBER_LIST}),
    "lb_admin": ({READ, WRITE, MEMBER_LIST}, {READ, WRITE, MEMBER_LIST}),
    "member": ({READ, WRITE, MEMBER_LIST}, set()),
    "lb_member": ({READ, WRITE, MEMBER_LIST}, set()),
    "reader": ({READ, MEMBER_LIST}, set()),
    "lb_observer": ({READ, MEMBER_LIST}, set()),
    "lb_global_observer": ({READ, MEMBER_LIST}, {READ, MEMBER_LIST}),
    "service": ({MEMBER_LIST}, {MEMBER_LIST}),
    "nobody": (set(), set()),
}


@dataclass(frozen=True)
class Call:
    name: str
    method: str
    path: str  # formatted with the tree's ids
    kind: str
    ok: int
    body: Callable[[dict[str, str]], Any] | None = None


def _members_body(ids: dict[str, str]) -> Any:
    return {"member": {"address": "192.0.2.77", "protocol_port": 8080}}


LB, LI, PO, HM = ("/v2/lbaas/loadbalancers", "/v2/lbaas/listeners", "/v2/lbaas/pools",
                  "/v2/lbaas/healthmonitors")
MEMBERS = PO + "/{pool}/members"

# Per resource, in an order where each write leaves the tree usable for the next call.
CALLS: dict[str, list[Call]] = {
    "loadbalancer": [
        Call("list", "GET", LB + "?project_id={project}", READ, 200),
        Call("show", "GET", LB + "/{lb}", READ, 200),
        Call("status", "GET", LB + "/{lb}/status", READ, 200),
        Call("stats", "GET", LB + "/{lb}/stats", READ, 200),
        Call("create", "POST", LB, WRITE, 201,
             lambda ids: {"loadbalancer": {"vip_subnet_id": ids["subnet"],
                                           "project_id": ids["project"]}}),
        Call("update", "PUT", LB + "/{lb}", WRITE, 200, lambda ids: {"loadbalancer": {"name": "x"}}),
        Call("delete", "DELETE", LB + "/{lb}?cascade=true", WRITE, 204),
    ],
    "listener": [
        Call("list", "GET", LI + "?project_id={project}", READ, 200),
        Call("show", "GET", LI + "/{listener}", READ, 200),
        Call("stats", "GET", LI + "/{listener}/stats", READ, 200),
        Call("create", "POST", LI, WRITE, 201,
             lambda ids: {"listener": {"loadbalancer_id": ids["lb"], "protocol": "HTTP",
                                       "protocol_port": 81}}),
        Call("update", "PUT", LI + "/{listener}", WRITE, 200,
             lambda ids: {"listener": {"name": "x"}}),
        Call("delete", "DELETE", LI + "/{listener}", WRITE, 204),
    ],
    "pool": [
        Call("list", "GET", PO + "?project_id={project}", READ, 200),
        Call("show", "GET", PO + "/{pool}", READ, 200),
        Call("create", "POST", PO, WRITE, 201,
             lambda ids: {"pool": {"loadbalancer_id": ids["lb"], "protocol": "HTTP",
                                   "lb_algorithm": "ROUND_ROBIN"}}),
        Call("update", "PUT", PO + "/{pool}", WRITE, 200, lambda ids: {"pool": {"name": "x"}}),
        Call("delete", "DELETE", PO + "/{pool}", WRITE, 204),
    ],
    "member": [
        Call("list", "GET", MEMBERS, MEMBER_LIST, 200),
        Call("show", "GET", MEMBERS + "/{member}", READ, 200),
        Call("create", "POST", MEMBERS, WRITE, 201, _members_body),
        Call("update", "PUT", MEMBERS + "/{member}", WRITE, 200,
             lambda ids: {"member": {"weight": 5}}),
        Call("delete", "DELETE", MEMBERS + "/{member}", WRITE, 204),
    ],
    "healthmonitor": [
        Call("list", "GET", HM + "?project_id={project}", READ, 200),
        Call("show", "GET", HM + "/{hm}", READ, 200),
        Call("update", "PUT", HM + "/{hm}", WRITE, 200,
             lambda ids: {"healthmonitor": {"delay": 7}}),
        Call("delete", "DELETE", HM + "/{hm}", WRITE, 204),
        Call("create", "POST", HM, WRITE, 201,
             lambda ids: {"healthmonitor": {"pool_id": ids["pool"], "type": "HTTP", "delay": 5,
                                            "timeout": 3, "max_retries": 2}}),
    ],
}


def build(api: TokenApi, project: str) -> dict[str, str]:
    """An ACTIVE tree owned by `project` (made by the admin)."""
    body = {"vip_subnet_id": api.subnet_id, "project_id": project, "name": "lb",
            "listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": {
                "name": "pool", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                "members": [{"address": "192.0.2.10", "protocol_port": 8080}],
                "healthmonitor": {"type": "HTTP", "delay": 5, "timeout": 3,
                                  "max_retries": 2}}}]}
    lb = api.expect("POST", "/v2/lbaas/loadbalancers", 201, {"loadbalancer": body})
    lb = lb["loadbalancer"]
    api.converge(lb["id"])
    pool = lb["pools"][0]
    return {"project": project, "subnet": api.subnet_id, "lb": lb["id"],
            "listener": lb["listeners"][0]["id"], "pool": pool["id"],
            "member": pool["members"][0]["id"], "hm": pool["healthmonitor"]["id"]}


def walk(api: TokenApi, persona: str, resource: str) -> int:
    """Every call of `resource` as `persona` on its own and another project; returns
    how many calls were checked."""
    checked = 0
    own_kinds, other_kinds = ALLOWED[persona]
    trees = {"own": build(api, "p1"), "other": build(api, "p2")}
    headers = api.as_(persona)
    for which, kinds in (("own", own_kinds), ("other", other_kinds)):
        ids = trees[which]
        for call in CALLS[resource]:
            path = call.path.format(**ids)
            body = call.body(ids) if call.body else None
            response = api.request(call.method, path, json=body, headers=headers)
            checked += 1
            where = (persona, which, resource, call.name, response.status_code, response.text)
            if call.kind in kinds:
                assert response.status_code == call.ok, where
                if call.method == "GET" and "?project_id=" in call.path:
                    _only_project(response.json(), ids["project"], where)
                api.settle()  # the worker finishes, so the next write is not a 409
            else:
                assert_fault(response, 403, "Policy does not allow this request to be "
                                            "performed.")
        if resource == "loadbalancer" and READ in kinds:
            _unfiltered_list(api, headers, persona)
    return checked


def _only_project(body: dict[str, Any], project: str, where: Any) -> None:
    items = next(v for k, v in body.items() if not k.endswith("_links"))
    assert items and {item["project_id"] for item in items} == {project}, where


def _unfiltered_list(api: TokenApi, headers: dict[str, str], persona: str) -> None:
    """Without a filter, a project-scoped caller sees only its project; global readers
    see every project."""
    listed = api.get(LB, headers=headers).json()["loadbalancers"]
    projects = {lb["project_id"] for lb in listed}
    global_reader = READ in ALLOWED[persona][1]
    assert projects == ({"p1", "p2"} if global_reader else {"p1"}), (persona, projects)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize("resource", sorted(CALLS))
@pytest.mark.parametrize("persona", sorted(ALLOWED))
def test_matrix(token_api: TokenApi, persona: str, resource: str) -> None:
    assert walk(token_api, persona, resource) == 2 * len(CALLS[resource])


@pytest.mark.parametrize("resource", sorted(CALLS))
def test_member_on_every_database(token_api: TokenApi, resource: str) -> None:
    assert walk(token_api, "member", resource) == 2 * len(CALLS[resource])


def test_member_of_another_project_sees_nothing_of_p1(token_api: TokenApi) -> None:
    ids = build(token_api, "p1")
    other = token_api.as_("member_p2")
    assert token_api.get(LB, headers=other).json()["loadbalancers"] == []
    for path in (f"{LB}/{ids['lb']}", f"{LI}/{ids['listener']}", f"{PO}/{ids['pool']}",
                 f"{PO}/{ids['pool']}/members", f"{HM}/{ids['hm']}"):
        assert_fault(token_api.get(path, headers=other), 403)
    # A missing object is still 404, whoever asks.
    assert_fault(token_api.get(f"{LB}/00000000-0000-0000-0000-000000000001", headers=other),
                 404)
    # A child cannot be hung on another project's load balancer.
    body = {"listener": {"loadbalancer_id": ids["lb"], "protocol": "HTTP", "protocol_port": 82}}
    assert_fault(token_api.post(LI, json=body, headers=other), 403)


def test_personas_cover_the_matrix() -> None:
    assert set(ALLOWED) <= set(PERSONAS)
