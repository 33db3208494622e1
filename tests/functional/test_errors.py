"""What every response shares: the version document, request ids, content negotiation,
Octavia's fault body, and the 409 of a tree that is busy (PENDING_*) or failed."""
from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import pytest

from portus.db import models as m
from tests.functional.conftest import Api, assert_fault, dump, fail

LBS = "/v2/lbaas/loadbalancers"
MISSING = "0b7c5d39-1f0e-4a57-9d0c-3f6e2b8a9c11"


# --- version discovery -------------------------------------------------------------

def test_version_document(api: Api) -> None:
    response = api.get("/")
    assert response.status_code == 200
    versions = response.json()["versions"]
    assert [v["id"] for v in versions] == [f"v2.{n}" for n in range(31)]
    assert [v["status"] for v in versions] == ["SUPPORTED"] * 30 + ["CURRENT"]
    for v in versions:
        assert v["links"] == [{"href": "http://testserver/v2", "rel": "self"}]
        assert v["updated"].endswith("Z")
    assert set(response.json()) == {"versions"}


def test_version_document_needs_no_project(api: Api) -> None:
    assert api.get("/", headers={"X-Project-Id": ""}).status_code == 200


def test_v2_document(api: Api) -> None:
    for path in ("/v2", "/v2.0"):
        body = api.expect("GET", path, 200)
        assert body["version"]["id"] == "v2.30" and body["version"]["status"] == "CURRENT"


# --- request ids and content negotiation -------------------------------------------

@pytest.mark.parametrize("method, path, code", [
    ("GET", "/", 200), ("GET", LBS, 200), ("GET", f"{LBS}/{MISSING}", 404),
    ("POST", LBS, 400), ("GET", "/nothing/here", 404)])
def test_every_response_has_a_request_id(api: Api, method: str, path: str, code: int) -> None:
    first = api.request(method, path, json={} if method == "POST" else None)
    second = api.request(method, path, json={} if method == "POST" else None)
    assert first.status_code == code
    ids = [r.headers["X-Openstack-Request-Id"] for r in (first, second)]
    for rid in ids:
        assert rid.startswith("req-") and uuid.UUID(rid[4:])
    assert ids[0] != ids[1]


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "text/plain;q=1"])
def test_non_json_accept_is_406(api: Api, accept: str) -> None:
    response = api.get(LBS, headers={"Accept": accept})
    assert_fault(response, 406, "application/json")
    assert response.headers["X-Openstack-Request-Id"].startswith("req-")


@pytest.mark.parametrize("accept", ["application/json", "*/*", "application/*",
                                    "text/html, application/json;q=0.9", ""])
def test_json_accept_is_served(api: Api, accept: str) -> None:
    assert api.get(LBS, headers={"Accept": accept}).status_code == 200


def test_406_writes_nothing(api: Api) -> None:
    response = api.post(LBS, headers={"Accept": "text/html"},
                        json={"loadbalancer": {"vip_subnet_id": api.subnet_id,
                                               "project_id": "p1"}})
    assert_fault(response, 406)
    assert api.get(LBS).json()["loadbalancers"] == []


# --- fault format ------------------------------------------------------------------

def test_unknown_path_is_404_in_fault_format(api: Api) -> None:
    assert_fault(api.get("/v2/lbaas/bananas"), 404, "could not be found")
    assert_fault(api.get("/v3"), 404)


def test_unknown_method_is_405_in_fault_format(api: Api) -> None:
    assert_fault(api.patch(LBS, json={}), 405)
    lb = api.create_lb()
    assert_fault(api.post(f"{LBS}/{lb['id']}", json={}), 405)


@pytest.mark.parametrize("body, text", [
    (b"{not json", "not valid JSON"),
    (b"", "Mandatory field missing"),
    (b"[]", "Invalid input"),
    (b'"loadbalancer"', "Invalid input"),
    (b'{"loadbalancer": []}', "loadbalancer"),
    (b'{"load_balancer": {}}', "Invalid input for field/attribute"),
    (b"{}", "loadbalancer"),
])
def test_malformed_bodies_are_400(api: Api, body: bytes, text: str) -> None:
    response = api.post(LBS, content=body, headers={"Content-Type": "application/json"})
    assert_fault(response, 400, text)
    assert api.get(LBS).json()["loadbalancers"] == []


@pytest.mark.parametrize("path, root", [
    ("/v2/lbaas/listeners", "listener"), ("/v2/lbaas/pools", "pool"),
    ("/v2/lbaas/healthmonitors", "healthmonitor"), (LBS, "loadbalancer")])
def test_unknown_attribute_is_named(api: Api, path: str, root: str) -> None:
    message = assert_fault(api.post(path, json={root: {"bogus_field": 1}}), 400)
    # Either the unknown attribute or a missing mandatory one is reported: both by name.
    assert "Invalid input for field/attribute" in message
    assert "bogus_field" in message or "Mandatory field missing" in message


def test_validation_message_format(api: Api) -> None:
    body = {"loadbalancer": {"vip_subnet_id": api.subnet_id, "project_id": "p1",
                             "admin_state_up": "Yes"}}
    message = assert_fault(api.post(LBS, json=body), 400)
    assert message.startswith("Invalid input for field/attribute loadbalancer.admin_state_up. "
                              "Value: 'Yes'.")


def test_extra_attribute_message_format(api: Api) -> None:
    body = {"loadbalancer": {"vip_subnet_id": api.subnet_id, "project_id": "p1", "color": 1}}
    assert_fault(api.post(LBS, json=body), 400,
                 "Invalid input for field/attribute loadbalancer. "
                 "Unknown attribute for argument loadbalancer: color")


# --- a busy or failed tree refuses changes (409) -----------------------------------

def _operations(ids: dict[str, str]) -> list[tuple[str, str, str, Any]]:
    """Every change to a load balancer's tree: (label, method, path, body)."""
    pool = f"/v2/lbaas/pools/{ids['pool']}"
    member = f"{pool}/members/{ids['member']}"
    return [
        ("create listener", "POST", "/v2/lbaas/listeners",
         {"listener": {"loadbalancer_id": ids["lb"], "protocol": "TCP", "protocol_port": 9000}}),
        ("update listener", "PUT", f"/v2/lbaas/listeners/{ids['listener']}",
         {"listener": {"name": "x"}}),
        ("delete listener", "DELETE", f"/v2/lbaas/listeners/{ids['listener']}", None),
        ("create pool", "POST", "/v2/lbaas/pools",
         {"pool": {"loadbalancer_id": ids["lb"], "protocol": "TCP",
                   "lb_algorithm": "ROUND_ROBIN"}}),
        ("update pool", "PUT", pool, {"pool": {"name": "x"}}),
        ("delete pool", "DELETE", pool, None),
        ("create member", "POST", f"{pool}/members",
         {"member": {"address": "192.0.2.99", "protocol_port": 99}}),
        ("update member", "PUT", member, {"member": {"weight": 2}}),
        ("delete member", "DELETE", member, None),
        ("create health monitor", "POST", "/v2/lbaas/healthmonitors",
         {"healthmonitor": {"pool_id": ids["pool2"], "type": "TCP", "delay": 1, "timeout": 1,
                            "max_retries": 1}}),
        ("update health monitor", "PUT", f"/v2/lbaas/healthmonitors/{ids['hm']}",
         {"healthmonitor": {"delay": 2}}),
        ("delete health monitor", "DELETE", f"/v2/lbaas/healthmonitors/{ids['hm']}", None),
        ("update load balancer", "PUT", f"{LBS}/{ids['lb']}", {"loadbalancer": {"name": "x"}}),
        ("delete load balancer", "DELETE", f"{LBS}/{ids['lb']}?cascade=true", None),
    ]


def _graph(api: Api) -> dict[str, str]:
    """A tree created in one call (so everything in it is PENDING_CREATE): an HTTP
    listener whose pool has a member and a monitor, and a second pool without one."""
    body = {"loadbalancer": {
        "vip_subnet_id": api.subnet_id, "project_id": "p1",
        "pools": [{"name": "spare", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}],
        "listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": {
            "name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
            "members": [{"address": "192.0.2.1", "protocol_port": 80}],
            "healthmonitor": {"type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1}}}]}}
    lb = api.expect("POST", LBS, 201, body)["loadbalancer"]
    pools = {p["name"]: p["id"] for p in lb["pools"]}
    members = api.expect("GET", f"/v2/lbaas/pools/{pools['web']}/members", 200)["members"]
    hm = api.expect("GET", "/v2/lbaas/healthmonitors", 200)["healthmonitors"]
    return {"lb": lb["id"], "listener": lb["listeners"][0]["id"], "pool": pools["web"],
            "pool2": pools["spare"], "member": members[0]["id"], "hm": hm[0]["id"]}


def _pending_create(api: Api) -> dict[str, str]:
    return _graph(api)


def _pending_update(api: Api) -> dict[str, str]:
    ids = _graph(api)
    api.converge(ids["lb"])
    api.expect("PUT", f"/v2/lbaas/pools/{ids['pool']}/members/{ids['member']}", 200,
               {"member": {"weight": 5}})
    return ids


def _pending_delete(api: Api) -> dict[str, str]:
    ids = _graph(api)
    api.converge(ids["lb"])
    api.expect("DELETE", f"{LBS}/{ids['lb']}?cascade=true", 204)
    return ids


def _error(api: Api) -> dict[str, str]:
    ids = _graph(api)
    fail(api.db, ids["lb"], "the amphora did not boot")
    return ids


@pytest.mark.parametrize("make, state, refused", [
    pytest.param(_pending_create, "PENDING_CREATE", None, id="PENDING_CREATE"),
    pytest.param(_pending_update, "PENDING_UPDATE", None, id="PENDING_UPDATE"),
    pytest.param(_pending_delete, "PENDING_DELETE", None, id="PENDING_DELETE"),
    # A load balancer in ERROR may be updated (a retry) or deleted; its children may not
    # be changed.
    pytest.param(_error, "ERROR", {"update load balancer", "delete load balancer"}, id="ERROR"),
])
def test_changes_to_a_busy_tree_are_409_and_change_nothing(
        api: Api, make: Callable[[Api], dict[str, str]], state: str,
        refused: set[str] | None) -> None:
    ids = make(api)
    assert api.show("loadbalancer", ids["lb"])["provisioning_status"] == state
    before = dump(api.db)
    api.woken.clear()
    for label, method, path, body in _operations(ids):
        if refused is not None and label in refused:
            continue
        response = api.request(method, path, json=body)
        assert response.status_code == 409, (label, response.status_code, response.text)
        assert_fault(response, 409, f"Invalid state {state} of loadbalancer resource {ids['lb']}")
    assert dump(api.db) == before
    assert api.woken == []


def test_a_failed_child_can_be_deleted_once_the_tree_is_active_again(api: Api) -> None:
    ids = api.tree()
    api.expect("PUT", f"/v2/lbaas/pools/{ids['pool']}/members/{ids['member']}", 200,
               {"member": {"weight": 5}})
    fail(api.db, ids["lb"])
    member = api.show("member", ids["member"], pool_id=ids["pool"])
    assert member["provisioning_status"] == "ERROR"
    # An update of the load balancer retries it ...
    api.expect("PUT", f"{LBS}/{ids['lb']}", 200, {"loadbalancer": {}})
    api.converge(ids["lb"])
    assert api.show("loadbalancer", ids["lb"])["provisioning_status"] == "ACTIVE"
    # ... and then the member in ERROR can be deleted.
    api.expect("DELETE", f"/v2/lbaas/pools/{ids['pool']}/members/{ids['member']}", 204)
    api.converge(ids["lb"])
    assert_fault(api.get(f"/v2/lbaas/pools/{ids['pool']}/members/{ids['member']}"), 404)


# --- unknown ids ---------------------------------------------------------------------

@pytest.mark.parametrize("method, template", [
    ("GET", "/v2/lbaas/loadbalancers/{id}"), ("PUT", "/v2/lbaas/loadbalancers/{id}"),
    ("DELETE", "/v2/lbaas/loadbalancers/{id}"), ("GET", "/v2/lbaas/loadbalancers/{id}/status"),
    ("GET", "/v2/lbaas/loadbalancers/{id}/stats"),
    ("GET", "/v2/lbaas/listeners/{id}"), ("PUT", "/v2/lbaas/listeners/{id}"),
    ("DELETE", "/v2/lbaas/listeners/{id}"), ("GET", "/v2/lbaas/listeners/{id}/stats"),
    ("GET", "/v2/lbaas/pools/{id}"), ("PUT", "/v2/lbaas/pools/{id}"),
    ("DELETE", "/v2/lbaas/pools/{id}"),
    ("GET", "/v2/lbaas/pools/{id}/members"), ("POST", "/v2/lbaas/pools/{id}/members"),
    ("GET", "/v2/lbaas/pools/{id}/members/{id}"), ("PUT", "/v2/lbaas/pools/{id}/members/{id}"),
    ("DELETE", "/v2/lbaas/pools/{id}/members/{id}"),
    ("GET", "/v2/lbaas/healthmonitors/{id}"), ("PUT", "/v2/lbaas/healthmonitors/{id}"),
    ("DELETE", "/v2/lbaas/healthmonitors/{id}"),
])
@pytest.mark.parametrize("obj_id", ["2b6b1ffa-8a43-4a8d-b6c2-6c9f1b1c6a54", "not-a-uuid"])
def test_unknown_ids_are_404(api: Api, method: str, template: str, obj_id: str) -> None:
    bodies: dict[str, Any] = {"loadbalancers": {"loadbalancer": {}}, "listeners": {"listener": {}},
              "pools": {"pool": {}}, "members": {"member": {}},
              "healthmonitors": {"healthmonitor": {}}}
    path = template.format(id=obj_id)
    body = None
    if method == "PUT":
        body = bodies[template.split("/")[-2] if template.endswith("{id}") else ""]
    if method == "POST":
        body = {"member": {"address": "192.0.2.1", "protocol_port": 80}}
    assert_fault(api.request(method, path, json=body), 404, obj_id)


def test_concurrent_changes_to_one_tree_one_wins(api: Api) -> None:
    """The conditional UPDATE on the load balancer row is the lock: of many changes sent
    at once exactly one is accepted, the rest get 409, and none fails."""
    ids = api.tree()
    barrier = threading.Barrier(8)

    def change(i: int) -> Any:
        barrier.wait()
        if i % 2:
            return api.post("/v2/lbaas/listeners", json={"listener": {
                "loadbalancer_id": ids["lb"], "protocol": "TCP", "protocol_port": 2000 + i}})
        return api.post(f"/v2/lbaas/pools/{ids['pool']}/members", json={"member": {
            "address": f"192.0.2.{100 + i}", "protocol_port": 80}})

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(change, range(8)))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 7
    for r in responses:
        if r.status_code == 409:
            assert_fault(r, 409, "PENDING_UPDATE")
    counts = {"listener": 0, "member": 0}
    with api.db.read() as session:
        lb = session.get(m.LoadBalancer, ids["lb"])
        assert lb is not None and lb.desired_generation == 2
        counts["listener"] = len(lb.listeners)
        counts["member"] = sum(len(p.members) for p in lb.pools)
    assert counts["listener"] + counts["member"] == 3  # the tree's 1 + 1, plus one new
