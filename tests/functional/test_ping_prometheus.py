"""PING health monitors and PROMETHEUS listeners: what the API accepts and refuses."""
from __future__ import annotations

from typing import Any

import pytest

from tests.functional.conftest import Api, assert_fault, dump

HMS = "/v2/lbaas/healthmonitors"
LISTENERS = "/v2/lbaas/listeners"
LBS = "/v2/lbaas/loadbalancers"
PING_DISABLED = "The selected type is not allowed in this deployment: PING"
PROMETHEUS_DISABLED = "The selected protocol is not allowed in this deployment: PROMETHEUS"
NO_CHILDREN = "Protocol PROMETHEUS listeners cannot have child objects."
PING = {"type": "PING", "delay": 5, "timeout": 2, "max_retries": 2}


def post_hm(api: Api, **fields: Any) -> Any:
    return api.post(HMS, json={"healthmonitor": fields})


def post_listener(api: Api, **fields: Any) -> Any:
    return api.post(LISTENERS, json={"listener": fields})


def graph(api: Api, listener: dict[str, Any], **extra: Any) -> Any:
    """A fully populated load balancer create with this listener (or `listeners`)."""
    return api.post(LBS, json={"loadbalancer": {
        "vip_subnet_id": api.subnet_id, "project_id": "p1", "listeners": [listener], **extra}})


# --- PING health monitors -------------------------------------------------------------

@pytest.mark.parametrize("protocol", ["HTTP", "TCP"])
def test_ping_monitor_is_created_without_http_fields(api: Api, protocol: str) -> None:
    ids = api.tree(hm=False, members=1, protocol=protocol)
    hm = api.create_hm(ids["pool"], settle=False, **PING)
    assert (hm["type"], hm["delay"], hm["timeout"], hm["max_retries"]) == ("PING", 5, 2, 2)
    assert (hm["http_method"], hm["url_path"], hm["expected_codes"], hm["http_version"],
            hm["domain_name"]) == (None, None, None, None, None)
    api.settle()
    assert api.show("healthmonitor", hm["id"])["provisioning_status"] == "ACTIVE"
    # A member of a monitored pool waits for its first check.
    assert api.show("member", ids["member"], ids["pool"])["operating_status"] == "NO_MONITOR"


def test_ping_monitor_in_a_fully_populated_create(api: Api) -> None:
    response = graph(api, {"protocol": "TCP", "protocol_port": 22, "default_pool": {
        "name": "p", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN",
        "members": [{"address": "192.0.2.10", "protocol_port": 22}], "healthmonitor": PING}})
    assert response.status_code == 201, response.text
    hm_id = response.json()["loadbalancer"]["pools"][0]["healthmonitor"]["id"]
    assert api.show("healthmonitor", hm_id)["type"] == "PING"
    pool = response.json()["loadbalancer"]["pools"][0]
    member = api.show("member", pool["members"][0]["id"], pool["id"])
    assert member["operating_status"] == "OFFLINE"  # monitored: unknown until checked


@pytest.mark.parametrize("field, value", [
    ("http_method", "GET"), ("url_path", "/"), ("expected_codes", "200")])
def test_ping_monitor_refuses_http_fields(api: Api, field: str, value: Any) -> None:
    ids = api.tree(hm=False, members=0)
    before = dump(api.db)
    assert_fault(post_hm(api, pool_id=ids["pool"], **PING, **{field: value}), 400, field)
    assert dump(api.db) == before


def test_ping_monitor_update_refuses_http_fields_and_keeps_timers(api: Api) -> None:
    ids = api.tree(hm=False, members=0)
    hm = api.create_hm(ids["pool"], **PING)
    before = dump(api.db)
    response = api.put(f"{HMS}/{hm['id']}", json={"healthmonitor": {"url_path": "/x"}})
    assert_fault(response, 400, "url_path")
    assert dump(api.db) == before
    updated = api.expect("PUT", f"{HMS}/{hm['id']}", 200,
                         {"healthmonitor": {"delay": 9, "timeout": 4}})["healthmonitor"]
    assert (updated["type"], updated["delay"], updated["timeout"]) == ("PING", 9, 4)


def test_ping_monitors_can_be_disabled(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = api.tree(hm=False, members=0)
    monkeypatch.setattr(api.cfg.api, "allow_ping_health_monitors", False)
    before = dump(api.db)
    assert_fault(post_hm(api, pool_id=ids["pool"], **PING), 400, PING_DISABLED)
    assert_fault(api.post("/v2/lbaas/pools", json={"pool": {
        "loadbalancer_id": ids["lb"], "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN",
        "healthmonitor": PING}}), 400, PING_DISABLED)
    assert dump(api.db) == before
    assert_fault(graph(api, {"protocol": "TCP", "protocol_port": 22, "default_pool": {
        "name": "p", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN", "healthmonitor": PING}}),
        400, PING_DISABLED)
    assert dump(api.db) == before
    # Other types are not affected.
    assert api.create_hm(ids["pool"], type="TCP")["type"] == "TCP"


# --- PROMETHEUS listeners ---------------------------------------------------------------

def test_prometheus_listener_is_created_and_has_stats(api: Api) -> None:
    lb = api.create_lb()
    li = api.create_listener(lb["id"], settle=False, protocol="PROMETHEUS", protocol_port=9100,
                             connection_limit=10)
    assert (li["protocol"], li["protocol_port"], li["connection_limit"]) == (
        "PROMETHEUS", 9100, 10)
    assert li["default_pool_id"] is None and li["l7policies"] == []
    api.settle()
    assert api.show("listener", li["id"])["provisioning_status"] == "ACTIVE"
    assert api.expect("GET", f"{LISTENERS}/{li['id']}/stats", 200) == {"stats": {
        "bytes_in": 0, "bytes_out": 0, "active_connections": 0, "total_connections": 0,
        "request_errors": 0}}
    listed = api.expect("GET", f"{LISTENERS}?protocol=PROMETHEUS", 200)["listeners"]
    assert [x["id"] for x in listed] == [li["id"]]


def test_prometheus_listener_in_a_fully_populated_create(api: Api) -> None:
    response = graph(api, {"protocol": "PROMETHEUS", "protocol_port": 9100})
    assert response.status_code == 201, response.text
    assert response.json()["loadbalancer"]["listeners"][0]["protocol"] == "PROMETHEUS"


@pytest.mark.parametrize("other", ["HTTP", "TCP", "HTTPS", "PROMETHEUS"])
def test_prometheus_shares_the_tcp_port_space(api: Api, other: str) -> None:
    lb = api.create_lb()
    api.create_listener(lb["id"], protocol=other, protocol_port=80)
    before = dump(api.db)
    response = post_listener(api, loadbalancer_id=lb["id"], protocol="PROMETHEUS",
                             protocol_port=80)
    assert_fault(response, 409, "protocol_port 80")
    assert dump(api.db) == before
    assert_fault(graph(api, {"protocol": "PROMETHEUS", "protocol_port": 81},
                       listeners=[{"protocol": other, "protocol_port": 81},
                                  {"protocol": "PROMETHEUS", "protocol_port": 81}]),
                 409, "protocol_port 81")


def test_prometheus_listeners_can_be_disabled(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    lb = api.create_lb()
    monkeypatch.setattr(api.cfg.api, "allow_prometheus_listeners", False)
    before = dump(api.db)
    assert_fault(post_listener(api, loadbalancer_id=lb["id"], protocol="PROMETHEUS",
                               protocol_port=9100), 400, PROMETHEUS_DISABLED)
    assert_fault(graph(api, {"protocol": "PROMETHEUS", "protocol_port": 9100}), 400,
                 PROMETHEUS_DISABLED)
    assert dump(api.db) == before
    api.create_listener(lb["id"], protocol="HTTP", protocol_port=80)


def _pool_body(protocol: str = "HTTP") -> dict[str, Any]:
    return {"name": "p", "protocol": protocol, "lb_algorithm": "ROUND_ROBIN"}


@pytest.mark.parametrize("extra, fragment", [
    ({"default_pool": _pool_body()}, NO_CHILDREN),
    ({"default_pool": _pool_body("TCP")}, NO_CHILDREN),
    ({"l7policies": [{"action": "REJECT"}]}, NO_CHILDREN),
    ({"insert_headers": {"X-Forwarded-For": "true"}}, "insert_headers"),
])
def test_prometheus_listener_refuses_children_on_create(api: Api, extra: dict[str, Any],
                                                        fragment: str) -> None:
    lb = api.create_lb()
    before = dump(api.db)
    assert_fault(post_listener(api, loadbalancer_id=lb["id"], protocol="PROMETHEUS",
                               protocol_port=9100, **extra), 400, fragment)
    assert_fault(graph(api, {"protocol": "PROMETHEUS", "protocol_port": 9100, **extra}), 400,
                 fragment)
    assert dump(api.db) == before


def test_prometheus_listener_refuses_pools_and_policies_later(api: Api) -> None:
    lb = api.create_lb()
    li = api.create_listener(lb["id"], protocol="PROMETHEUS", protocol_port=9100)
    pool = api.create_pool(loadbalancer_id=lb["id"], protocol="HTTP", lb_algorithm="ROUND_ROBIN")
    before = dump(api.db)
    assert_fault(post_listener(api, loadbalancer_id=lb["id"], protocol="PROMETHEUS",
                               protocol_port=9101, default_pool_id=pool["id"]), 400, NO_CHILDREN)
    assert_fault(api.put(f"{LISTENERS}/{li['id']}",
                         json={"listener": {"default_pool_id": pool["id"]}}), 400, NO_CHILDREN)
    assert_fault(api.put(f"{LISTENERS}/{li['id']}",
                         json={"listener": {"insert_headers": {"X-Forwarded-For": "true"}}}),
                 400, "insert_headers")
    assert_fault(api.post("/v2/lbaas/pools", json={"pool": {
        "listener_id": li["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}),
        400, NO_CHILDREN)
    assert_fault(api.post("/v2/lbaas/l7policies", json={"l7policy": {
        "listener_id": li["id"], "action": "REJECT"}}), 400, NO_CHILDREN)
    assert_fault(api.post("/v2/lbaas/l7policies", json={"l7policy": {
        "listener_id": li["id"], "action": "REDIRECT_TO_POOL", "redirect_pool_id": pool["id"]}}),
        400, NO_CHILDREN)
    assert dump(api.db) == before
    # Renaming, limits and timeouts are fine.
    out = api.expect("PUT", f"{LISTENERS}/{li['id']}", 200, {"listener": {
        "name": "metrics", "connection_limit": 5, "timeout_client_data": 1000}})["listener"]
    assert (out["name"], out["connection_limit"], out["timeout_client_data"]) == (
        "metrics", 5, 1000)
