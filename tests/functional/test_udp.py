"""UDP and SCTP listeners, pools and their health monitors: Octavia's rules (API side)."""
from __future__ import annotations

from typing import Any

import pytest

from tests.functional.conftest import Api, assert_fault, dump

LISTENERS = "/v2/lbaas/listeners"
POOLS = "/v2/lbaas/pools"
HMS = "/v2/lbaas/healthmonitors"
L4 = pytest.mark.parametrize("protocol", ["UDP", "SCTP"])
ONLY_L4_MONITORS = "UDP-CONNECT/SCTP/TCP/HTTP"


def refused(api: Api, method: str, path: str, body: Any, code: int, *fragments: str) -> str:
    """The request fails with this code and changes nothing; returns the fault string."""
    before = dump(api.db)
    text = assert_fault(api.request(method, path, json=body), code, *fragments)
    assert dump(api.db) == before
    return text


# --- listeners -----------------------------------------------------------------------

@L4
def test_listener_and_pool_are_created(api: Api, protocol: str) -> None:
    ids = api.tree(protocol=protocol)
    listener = api.show("listener", ids["listener"])
    pool = api.show("pool", ids["pool"])
    hm = api.show("healthmonitor", ids["hm"])
    assert (listener["protocol"], listener["provisioning_status"]) == (protocol, "ACTIVE")
    assert (pool["protocol"], pool["listeners"]) == (protocol, [{"id": ids["listener"]}])
    assert hm["type"] == ("UDP-CONNECT" if protocol == "UDP" else "SCTP")
    assert (hm["http_method"], hm["url_path"], hm["expected_codes"]) == (None, None, None)


def test_udp_shares_a_port_with_tcp_not_with_udp(api: Api) -> None:
    lb = api.create_lb()
    api.create_listener(lb["id"], protocol="TCP", protocol_port=53)
    api.create_listener(lb["id"], protocol="UDP", protocol_port=53)
    api.create_listener(lb["id"], protocol="SCTP", protocol_port=53)
    for protocol in ("UDP", "SCTP"):
        assert refused(api, "POST", LISTENERS, {"listener": {
            "loadbalancer_id": lb["id"], "protocol": protocol, "protocol_port": 53}}, 409,
            "already using protocol_port 53")


@L4
def test_listener_takes_no_insert_headers(api: Api, protocol: str) -> None:
    lb = api.create_lb()
    assert refused(api, "POST", LISTENERS, {"listener": {
        "loadbalancer_id": lb["id"], "protocol": protocol, "protocol_port": 53,
        "insert_headers": {"X-Forwarded-For": "true"}}}, 400, "insert_headers")
    listener = api.create_listener(lb["id"], protocol=protocol, protocol_port=53)
    assert refused(api, "PUT", f"{LISTENERS}/{listener['id']}",
            {"listener": {"insert_headers": {"X-Forwarded-For": "true"}}}, 400, "insert_headers")


@L4
def test_listener_takes_no_tls_reference(api: Api, protocol: str) -> None:
    lb = api.create_lb()
    before = dump(api.db)
    text = assert_fault(api.post(LISTENERS, json={"listener": {
        "loadbalancer_id": lb["id"], "protocol": protocol, "protocol_port": 53,
        "default_tls_container_ref": "cert"}}), 400)
    assert "default_tls_container_ref is only allowed on TERMINATED_HTTPS" in text, text
    assert dump(api.db) == before


@pytest.mark.parametrize("listener_protocol, pool_protocol", [
    ("UDP", "TCP"), ("UDP", "HTTP"), ("UDP", "SCTP"), ("SCTP", "UDP"), ("SCTP", "TCP"),
    ("TCP", "UDP"), ("HTTP", "UDP"), ("HTTPS", "SCTP")])
def test_listener_and_pool_protocols_must_match(api: Api, listener_protocol: str,
                                                pool_protocol: str) -> None:
    lb = api.create_lb()
    listener = api.create_listener(lb["id"], protocol=listener_protocol, protocol_port=53)
    message = (f"The pool protocol '{pool_protocol}' is invalid while the listener protocol "
               f"is '{listener_protocol}'.")
    assert refused(api, "POST", POOLS, {"pool": {"listener_id": listener["id"], "protocol": pool_protocol,
                                          "lb_algorithm": "ROUND_ROBIN"}}, 400, message)
    assert refused(api, "POST", LISTENERS, {"listener": {
        "loadbalancer_id": lb["id"], "protocol": listener_protocol, "protocol_port": 54,
        "default_pool": {"protocol": pool_protocol, "lb_algorithm": "ROUND_ROBIN"}}}, 400, message)
    pool = api.create_pool(loadbalancer_id=lb["id"], protocol=pool_protocol)
    assert refused(api, "PUT", f"{LISTENERS}/{listener['id']}",
            {"listener": {"default_pool_id": pool["id"]}}, 400, message)


@L4
def test_no_l7_policies(api: Api, protocol: str) -> None:
    ids = api.tree(protocol=protocol)
    assert refused(api, "POST", "/v2/lbaas/l7policies", {"l7policy": {
        "listener_id": ids["listener"], "action": "REJECT"}}, 501,
        "L7 policies are only supported on HTTP and TERMINATED_HTTPS listeners")


# --- health monitors -----------------------------------------------------------------

@L4
@pytest.mark.parametrize("hm_type", ["UDP-CONNECT", "SCTP", "TCP", "HTTP"])
def test_pool_takes_l4_tcp_and_http_monitors(api: Api, protocol: str, hm_type: str) -> None:
    ids = api.tree(protocol=protocol, hm=False)
    hm = api.create_hm(ids["pool"], type=hm_type, delay=3, timeout=2, max_retries=2)
    assert (hm["type"], hm["delay"]) == (hm_type, 3)
    assert hm["url_path"] == ("/" if hm_type == "HTTP" else None)


@L4
@pytest.mark.parametrize("hm_type", ["HTTPS", "TLS-HELLO", "PING"])
def test_pool_refuses_other_monitors(api: Api, protocol: str, hm_type: str) -> None:
    ids = api.tree(protocol=protocol, hm=False)
    assert refused(api, "POST", HMS, {"healthmonitor": {
        "pool_id": ids["pool"], "type": hm_type, "delay": 5, "timeout": 3, "max_retries": 2}},
        400, f"The associated pool protocol is {protocol}, so only a {ONLY_L4_MONITORS} "
             f"health monitor is supported.")


@pytest.mark.parametrize("pool_protocol", ["HTTP", "TCP", "PROXY"])
@pytest.mark.parametrize("hm_type", ["UDP-CONNECT", "SCTP"])
def test_other_pools_refuse_l4_monitors(api: Api, pool_protocol: str, hm_type: str) -> None:
    lb = api.create_lb()
    pool = api.create_pool(loadbalancer_id=lb["id"], protocol=pool_protocol)
    assert refused(api, "POST", HMS, {"healthmonitor": {
        "pool_id": pool["id"], "type": hm_type, "delay": 5, "timeout": 3, "max_retries": 2}},
        400, f"Validation failure: The {hm_type} type is only supported for pools of type UDP/SCTP.")


@L4
def test_udp_connect_delay_minimum(api: Api, protocol: str) -> None:
    ids = api.tree(protocol=protocol, hm=False)
    body = {"pool_id": ids["pool"], "type": "UDP-CONNECT", "delay": 2, "timeout": 1,
            "max_retries": 2}
    assert refused(api, "POST", HMS, {"healthmonitor": body}, 400,
            "The request delay value 2 should be larger than 3 for UDP-CONNECT health monitor "
            "type.")
    hm = api.create_hm(**{**body, "delay": 3})
    assert refused(api, "PUT", f"{HMS}/{hm['id']}", {"healthmonitor": {"delay": 1}}, 400,
            "The request delay value 1 should be larger than 3")
    assert api.expect("PUT", f"{HMS}/{hm['id']}", 200,
                      {"healthmonitor": {"delay": 4}})["healthmonitor"]["delay"] == 4


def test_udp_connect_minimum_is_configurable(api: Api) -> None:
    ids = api.tree(protocol="UDP", hm=False)
    api.cfg.api.udp_connect_min_interval_health_monitor = -1
    try:
        hm = api.create_hm(ids["pool"], type="UDP-CONNECT", delay=1, timeout=1, max_retries=1)
    finally:
        api.cfg.api.udp_connect_min_interval_health_monitor = 3
    assert hm["delay"] == 1


def test_udp_connect_takes_no_http_fields(api: Api) -> None:
    ids = api.tree(protocol="UDP", hm=False)
    assert refused(api, "POST", HMS, {"healthmonitor": {
        "pool_id": ids["pool"], "type": "UDP-CONNECT", "delay": 5, "timeout": 3,
        "max_retries": 2, "url_path": "/x"}}, 400, "url_path")


# --- session persistence -------------------------------------------------------------

@L4
def test_source_ip_with_timeout_and_granularity(api: Api, protocol: str) -> None:
    lb = api.create_lb()
    sp = {"type": "SOURCE_IP", "persistence_timeout": 60, "persistence_granularity": "255.255.255.0"}
    pool = api.create_pool(loadbalancer_id=lb["id"], protocol=protocol, session_persistence=sp)
    assert pool["session_persistence"] == {"cookie_name": None, **sp}
    out = api.expect("PUT", f"{POOLS}/{pool['id']}", 200, {"pool": {"session_persistence": {
        "type": "SOURCE_IP", "persistence_timeout": 30}}})["pool"]
    assert out["session_persistence"]["persistence_timeout"] == 30


@L4
@pytest.mark.parametrize("sp_type, extra", [("HTTP_COOKIE", {}),
                                            ("APP_COOKIE", {"cookie_name": "sid"})])
def test_cookie_persistence_refused(api: Api, protocol: str, sp_type: str,
                                    extra: dict[str, str]) -> None:
    lb = api.create_lb()
    sp = {"type": sp_type, **extra}
    message = (f"Session persistence of type {sp_type} is not supported for UDP/SCTP protocol "
               f"pools.")
    assert refused(api, "POST", POOLS, {"pool": {"loadbalancer_id": lb["id"], "protocol": protocol,
                                          "lb_algorithm": "ROUND_ROBIN",
                                          "session_persistence": sp}}, 400, message)
    pool = api.create_pool(loadbalancer_id=lb["id"], protocol=protocol)
    assert refused(api, "PUT", f"{POOLS}/{pool['id']}", {"pool": {"session_persistence": sp}}, 400,
            message)


@pytest.mark.parametrize("field, value", [("persistence_timeout", 60),
                                          ("persistence_granularity", "255.255.255.0")])
def test_timeout_and_granularity_only_for_l4_pools(api: Api, field: str, value: Any) -> None:
    lb = api.create_lb()
    sp = {"type": "SOURCE_IP", field: value}
    message = "persistence_timeout and persistence_granularity is only for UDP and SCTP"
    assert refused(api, "POST", POOLS, {"pool": {"loadbalancer_id": lb["id"], "protocol": "TCP",
                                          "lb_algorithm": "ROUND_ROBIN",
                                          "session_persistence": sp}}, 400, message)
    pool = api.create_pool(loadbalancer_id=lb["id"], protocol="TCP")
    assert refused(api, "PUT", f"{POOLS}/{pool['id']}", {"pool": {"session_persistence": sp}}, 400,
            message)


def test_granularity_must_be_an_address(api: Api) -> None:
    lb = api.create_lb()
    assert refused(api, "POST", POOLS, {"pool": {
        "loadbalancer_id": lb["id"], "protocol": "UDP", "lb_algorithm": "SOURCE_IP",
        "session_persistence": {"type": "SOURCE_IP", "persistence_granularity": "/24"}}},
        400, "persistence_granularity")


# --- members -------------------------------------------------------------------------

@L4
def test_member_of_another_ip_version_is_501(api: Api, protocol: str) -> None:
    ids = api.tree(protocol=protocol)
    assert refused(api, "POST", f"{POOLS}/{ids['pool']}/members", {"member": {
        "address": "2001:db8::5", "protocol_port": 53}}, 501,
        "is not of the IP version of a VIP")


# --- the fully populated create ------------------------------------------------------

def graph(pool: dict[str, Any], protocol: str = "UDP") -> dict[str, Any]:
    return {"listeners": [{"name": "dns", "protocol": protocol, "protocol_port": 53,
                           "default_pool": {"name": "p", **pool}}]}


def test_fully_populated_udp_load_balancer(api: Api) -> None:
    lb = api.create_lb(name="dns", **graph({
        "protocol": "UDP", "lb_algorithm": "SOURCE_IP",
        "session_persistence": {"type": "SOURCE_IP", "persistence_timeout": 10},
        "members": [{"address": "192.0.2.20", "protocol_port": 53, "weight": 3},
                    {"address": "192.0.2.21", "protocol_port": 53, "backup": True}],
        "healthmonitor": {"type": "UDP-CONNECT", "delay": 3, "timeout": 2, "max_retries": 2}}),
        pools=[])
    assert api.lb_status(lb["id"]) == "ACTIVE"
    assert [li["protocol"] for li in lb["listeners"]] == ["UDP"]
    assert lb["pools"][0]["session_persistence"]["persistence_timeout"] == 10


@pytest.mark.parametrize("pool, fragment", [
    ({"protocol": "UDP", "lb_algorithm": "ROUND_ROBIN",
      "healthmonitor": {"type": "HTTPS", "delay": 5, "timeout": 3, "max_retries": 2}},
     f"only a {ONLY_L4_MONITORS} health monitor"),
    ({"protocol": "UDP", "lb_algorithm": "ROUND_ROBIN",
      "healthmonitor": {"type": "UDP-CONNECT", "delay": 1, "timeout": 1, "max_retries": 2}},
     "The request delay value 1 should be larger than 3"),
    ({"protocol": "UDP", "lb_algorithm": "ROUND_ROBIN",
      "session_persistence": {"type": "HTTP_COOKIE"}},
     "Session persistence of type HTTP_COOKIE is not supported"),
    ({"protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"},
     "The pool protocol 'TCP' is invalid while the listener protocol is 'UDP'."),
    ({"protocol": "UDP", "lb_algorithm": "ROUND_ROBIN",
      "members": [{"address": "2001:db8::1", "protocol_port": 53}]},
     "is not of the IP version of a VIP"),
])
def test_fully_populated_refusals_write_nothing(api: Api, pool: dict[str, Any],
                                                fragment: str) -> None:
    body = {"vip_subnet_id": api.subnet_id, "project_id": "p1", **graph(pool)}
    before = dump(api.db)
    response = api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body})
    assert_fault(response, 501 if "IP version" in fragment else 400, fragment)
    assert dump(api.db) == before


def test_fully_populated_refuses_insert_headers_on_udp(api: Api) -> None:
    body = {"vip_subnet_id": api.subnet_id, "project_id": "p1", "listeners": [
        {"protocol": "UDP", "protocol_port": 53, "insert_headers": {"X-Forwarded-For": "true"}}]}
    before = dump(api.db)
    assert_fault(api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body}), 400,
                 "insert_headers")
    assert dump(api.db) == before
