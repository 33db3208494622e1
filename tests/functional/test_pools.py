"""/v2/lbaas/pools."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.functional.conftest import Api, assert_fault, dump, row_counts

POOLS = "/v2/lbaas/pools"
POOL_KEYS = {
    "id", "name", "description", "provisioning_status", "operating_status", "admin_state_up",
    "project_id", "tenant_id", "created_at", "updated_at", "tags", "protocol", "lb_algorithm",
    "session_persistence", "loadbalancers", "listeners", "members", "healthmonitor_id",
    "tls_enabled", "tls_container_ref", "ca_tls_container_ref", "crl_container_ref",
    "tls_ciphers", "tls_versions", "alpn_protocols"}


def post(api: Api, **fields: Any) -> Any:
    return api.post(POOLS, json={"pool": fields})


# --- create ------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP"])
def test_create_on_a_load_balancer(api: Api, algorithm: str) -> None:
    lb = api.create_lb()
    api.woken.clear()
    response = post(api, loadbalancer_id=lb["id"], protocol="HTTP", lb_algorithm=algorithm)
    assert response.status_code == 201, response.text
    pool = response.json()["pool"]
    assert set(pool) == POOL_KEYS
    assert pool["lb_algorithm"] == algorithm and pool["protocol"] == "HTTP"
    assert pool["name"] == "" and pool["description"] == ""
    assert pool["admin_state_up"] is True
    assert pool["project_id"] == "p1" and pool["tenant_id"] == "p1"
    assert pool["provisioning_status"] == "PENDING_CREATE"
    assert pool["operating_status"] == "OFFLINE"
    assert pool["session_persistence"] is None
    assert pool["tls_enabled"] is False
    assert pool["loadbalancers"] == [{"id": lb["id"]}]
    assert pool["listeners"] == [] and pool["members"] == []
    assert pool["healthmonitor_id"] is None
    assert api.woken == [lb["id"]]
    assert api.show("loadbalancer", lb["id"])["provisioning_status"] == "PENDING_UPDATE"
    api.converge(lb["id"])
    assert api.show("pool", pool["id"])["provisioning_status"] == "ACTIVE"
    assert api.show("loadbalancer", lb["id"])["pools"] == [{"id": pool["id"]}]


@pytest.mark.parametrize("protocol", ["HTTP", "TCP", "PROXY", "PROXYV2"])
def test_create_for_a_tcp_listener_takes_any_pool_protocol(api: Api, protocol: str) -> None:
    lb = api.create_lb()
    li = api.create_listener(lb["id"], protocol="TCP")
    pool = api.create_pool(listener_id=li["id"], protocol=protocol)
    assert pool["protocol"] == protocol
    assert api.show("listener", li["id"])["default_pool_id"] == pool["id"]


def test_create_for_a_listener_becomes_its_default_pool(api: Api) -> None:
    lb = api.create_lb()
    li = api.create_listener(lb["id"])
    pool = api.create_pool(settle=False, listener_id=li["id"], name="p")
    assert pool["listeners"] == [{"id": li["id"]}]
    assert pool["loadbalancers"] == [{"id": lb["id"]}]
    listener = api.show("listener", li["id"])
    assert listener["default_pool_id"] == pool["id"]
    assert listener["provisioning_status"] == "PENDING_UPDATE"
    api.converge(lb["id"])
    assert api.show("listener", li["id"])["provisioning_status"] == "ACTIVE"


def test_create_with_matching_listener_and_load_balancer(api: Api) -> None:
    lb = api.create_lb()
    li = api.create_listener(lb["id"])
    pool = api.create_pool(listener_id=li["id"], loadbalancer_id=lb["id"])
    assert pool["listeners"] == [{"id": li["id"]}]


def test_listener_of_another_load_balancer_is_400(api: Api) -> None:
    lb = api.create_lb()
    other = api.create_lb()
    li = api.create_listener(lb["id"])
    before = dump(api.db)
    response = post(api, listener_id=li["id"], loadbalancer_id=other["id"], protocol="HTTP",
                    lb_algorithm="ROUND_ROBIN")
    assert_fault(response, 400)
    assert dump(api.db) == before


def test_listener_with_a_default_pool_already_is_409(api: Api) -> None:
    lb = api.create_lb()
    li = api.create_listener(lb["id"])
    first = api.create_pool(listener_id=li["id"])
    before = dump(api.db)
    response = post(api, listener_id=li["id"], protocol="HTTP", lb_algorithm="ROUND_ROBIN")
    assert_fault(response, 409, first["id"])
    assert dump(api.db) == before


@pytest.mark.parametrize("listener_protocol, protocol", [
    ("HTTP", "TCP"), ("HTTP", "HTTPS"), ("HTTPS", "HTTP")])
def test_protocol_incompatible_with_the_listener_is_400(api: Api, listener_protocol: str,
                                                         protocol: str) -> None:
    lb = api.create_lb()
    li = api.create_listener(lb["id"], protocol=listener_protocol)
    before = dump(api.db)
    response = post(api, listener_id=li["id"], protocol=protocol, lb_algorithm="ROUND_ROBIN")
    assert_fault(response, 400, f"pool protocol '{protocol}' is invalid",
                 f"listener protocol is '{listener_protocol}'")
    assert dump(api.db) == before


@pytest.mark.parametrize("listener_protocol, protocol", [
    ("HTTPS", "HTTPS"), ("HTTPS", "TCP"), ("HTTPS", "PROXY"), ("HTTPS", "PROXYV2"),
    ("TCP", "HTTPS")])
def test_https_protocol_map_allows(api: Api, listener_protocol: str, protocol: str) -> None:
    lb = api.create_lb()
    li = api.create_listener(lb["id"], protocol=listener_protocol)
    pool = api.create_pool(listener_id=li["id"], protocol=protocol)
    assert api.show("pool", pool["id"])["protocol"] == protocol
    assert api.show("listener", li["id"])["default_pool_id"] == pool["id"]


def test_neither_listener_nor_load_balancer_is_400(api: Api) -> None:
    assert_fault(post(api, protocol="HTTP", lb_algorithm="ROUND_ROBIN"), 400,
                 "loadbalancer_id", "listener_id")


def test_unknown_parents_are_refused(api: Api) -> None:
    missing = str(uuid.uuid4())
    # Octavia: an unknown load balancer is 404; an unknown listener 500 there, 400 here.
    assert_fault(post(api, loadbalancer_id=missing, protocol="HTTP", lb_algorithm="ROUND_ROBIN"),
                 404, f"Load Balancer {missing} not found.")
    assert_fault(post(api, listener_id=missing, protocol="HTTP", lb_algorithm="ROUND_ROBIN"),
                 400, "listener_id", missing)
    assert sum(row_counts(api.db).values()) == 0


def test_create_while_pending_is_409(api: Api) -> None:
    lb = api.create_lb(settle=False)
    response = post(api, loadbalancer_id=lb["id"], protocol="HTTP", lb_algorithm="ROUND_ROBIN")
    assert_fault(response, 409, "PENDING_CREATE", lb["id"])
    assert row_counts(api.db)["pool"] == 0


@pytest.mark.parametrize("persistence", [
    {"type": "SOURCE_IP"},
    {"type": "HTTP_COOKIE"},
    {"type": "APP_COOKIE", "cookie_name": "JSESSIONID"},
])
def test_session_persistence(api: Api, persistence: dict[str, Any]) -> None:
    lb = api.create_lb()
    pool = api.create_pool(loadbalancer_id=lb["id"], session_persistence=persistence)
    full = {"type": None, "cookie_name": None, "persistence_timeout": None,
            "persistence_granularity": None, **persistence}
    assert pool["session_persistence"] == full
    assert api.show("pool", pool["id"])["session_persistence"] == full


def test_create_with_members_and_monitor(api: Api) -> None:
    lb = api.create_lb()
    pool = api.create_pool(
        loadbalancer_id=lb["id"],
        members=[{"address": "192.0.2.1", "protocol_port": 80},
                 {"address": "192.0.2.2", "protocol_port": 80, "weight": 0}],
        healthmonitor={"type": "TCP", "delay": 3, "timeout": 2, "max_retries": 1})
    assert len(pool["members"]) == 2
    assert pool["healthmonitor_id"] is not None
    members = api.get(f"{POOLS}/{pool['id']}/members").json()["members"]
    # With a monitor, members start OFFLINE until checked.
    assert {mb["operating_status"] for mb in members} == {"OFFLINE"}
    assert sorted(mb["weight"] for mb in members) == [0, 1]
    hm = api.show("healthmonitor", pool["healthmonitor_id"])
    assert hm["type"] == "TCP" and hm["pools"] == [{"id": pool["id"]}]


def test_create_with_duplicate_members_writes_nothing(api: Api) -> None:
    lb = api.create_lb()
    before = dump(api.db)
    response = post(api, loadbalancer_id=lb["id"], protocol="HTTP", lb_algorithm="ROUND_ROBIN",
                    members=[{"address": "192.0.2.1", "protocol_port": 80},
                             {"address": "192.0.2.1", "protocol_port": 80}])
    assert_fault(response, 409, "192.0.2.1")
    assert dump(api.db) == before


@pytest.mark.parametrize("fields, field", [
    ({"protocol": "udp"}, "protocol"),
    ({"protocol": "SCTP "}, "protocol"),
    ({"protocol": None}, "protocol"),
    ({"lb_algorithm": "RANDOM"}, "lb_algorithm"),
    ({"lb_algorithm": "round_robin"}, "lb_algorithm"),
    ({"loadbalancer_id": "abc"}, "loadbalancer_id"),
    ({"listener_id": 7}, "listener_id"),
    ({"session_persistence": {"type": "APP_COOKIE"}}, "session_persistence"),
    ({"session_persistence": {"type": "SOURCE_IP", "cookie_name": "c"}}, "session_persistence"),
    ({"session_persistence": {"type": "APP_COOKIE", "cookie_name": "a b"}}, "cookie_name"),
    ({"session_persistence": {"type": "APP_COOKIE", "cookie_name": "a;b"}}, "cookie_name"),
    ({"session_persistence": {"type": "HTTP_COOKIE", "persistence_timeout": 5}},
     "persistence_timeout and persistence_granularity is only for UDP and SCTP"),
    ({"session_persistence": {"type": "STICKY"}}, "session_persistence.type"),
    ({"session_persistence": {"type": "SOURCE_IP", "x": 1}}, "session_persistence"),
    ({"session_persistence": "SOURCE_IP"}, "session_persistence"),
    ({"tls_enabled": "Yes"}, "tls_enabled"),
    ({"admin_state_up": "YES"}, "admin_state_up"),
    ({"name": "n" * 256}, "name"),
    ({"tags": ["x", "x"]}, "tags"),
    ({"members": [{"address": "192.0.2.1"}]}, "pool.members.0.protocol_port"),
    ({"healthmonitor": {"type": "NOPE", "delay": 1, "timeout": 1, "max_retries": 1}},
     "pool.healthmonitor.type"),
    ({"tls_container_ref": "x"}, "tls_container_ref"),
    ({"colour": "red"}, "colour"),
])
def test_invalid_field_is_400_naming_it(api: Api, fields: dict[str, Any], field: str) -> None:
    lb = api.create_lb()
    before = dump(api.db)
    body = {"loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
            **fields}
    assert_fault(api.post(POOLS, json={"pool": body}), 400, field)
    assert dump(api.db) == before


def test_missing_required_fields_are_named(api: Api) -> None:
    lb = api.create_lb()
    for missing in ("protocol", "lb_algorithm"):
        body = {"loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
        del body[missing]
        assert_fault(api.post(POOLS, json={"pool": body}), 400, f"pool.{missing}",
                     "Mandatory field missing")


# --- show and update -----------------------------------------------------------------

def test_show_unknown_is_404(api: Api) -> None:
    missing = str(uuid.uuid4())
    assert_fault(api.get(f"{POOLS}/{missing}"), 404, f"Pool {missing} not found")


def test_show_lists_members_and_monitor(api: Api) -> None:
    ids = api.tree()
    pool = api.show("pool", ids["pool"])
    assert pool["members"] == [{"id": ids["member"]}]
    assert pool["healthmonitor_id"] == ids["hm"]
    assert pool["listeners"] == [{"id": ids["listener"]}]


def test_update(api: Api) -> None:
    lb = api.create_lb()
    li = api.create_listener(lb["id"])
    pool = api.create_pool(listener_id=li["id"])
    api.woken.clear()
    body = {"pool": {"name": "new", "description": "d", "admin_state_up": False,
                     "lb_algorithm": "LEAST_CONNECTIONS", "tags": ["a"],
                     "session_persistence": {"type": "HTTP_COOKIE"}}}
    out = api.expect("PUT", f"{POOLS}/{pool['id']}", 200, body)["pool"]
    assert (out["name"], out["description"], out["admin_state_up"], out["lb_algorithm"]) == (
        "new", "d", False, "LEAST_CONNECTIONS")
    assert out["session_persistence"] == {"type": "HTTP_COOKIE", "cookie_name": None,
                                          "persistence_timeout": None,
                                          "persistence_granularity": None}
    assert out["tags"] == ["a"]
    assert out["provisioning_status"] == "PENDING_UPDATE"
    assert api.show("listener", li["id"])["provisioning_status"] == "PENDING_UPDATE"
    assert api.show("loadbalancer", lb["id"])["provisioning_status"] == "PENDING_UPDATE"
    assert api.woken == [lb["id"]]
    api.converge(lb["id"])
    for kind, obj_id in (("pool", pool["id"]), ("listener", li["id"]),
                         ("loadbalancer", lb["id"])):
        assert api.show(kind, obj_id)["provisioning_status"] == "ACTIVE"


def test_update_session_persistence_without_type_keeps_the_type(api: Api) -> None:
    lb = api.create_lb()
    pool = api.create_pool(loadbalancer_id=lb["id"], session_persistence={
        "type": "APP_COOKIE", "cookie_name": "a"})
    body = {"pool": {"session_persistence": {"cookie_name": "b"}}}
    out = api.expect("PUT", f"{POOLS}/{pool['id']}", 200, body)["pool"]
    assert out["session_persistence"]["type"] == "APP_COOKIE"
    assert out["session_persistence"]["cookie_name"] == "b"
    api.converge(lb["id"])
    # The merged result is checked: a cookie name only goes with APP_COOKIE.
    plain = api.create_pool(loadbalancer_id=lb["id"], session_persistence={"type": "SOURCE_IP"})
    api.converge(lb["id"])
    before = dump(api.db)
    response = api.put(f"{POOLS}/{plain['id']}", json=body)
    assert_fault(response, 400, "session_persistence", "APP_COOKIE")
    # Without a type and without an old one, there is no type to keep.
    bare = api.create_pool(loadbalancer_id=lb["id"])
    api.converge(lb["id"])
    before = dump(api.db)
    response = api.put(f"{POOLS}/{bare['id']}", json=body)
    assert_fault(response, 400, "session_persistence.type", "Mandatory field missing")
    assert dump(api.db) == before


def test_update_null_resets(api: Api) -> None:
    lb = api.create_lb()
    pool = api.create_pool(loadbalancer_id=lb["id"], name="n", description="d",
                           admin_state_up=False, tags=["t"],
                           session_persistence={"type": "SOURCE_IP"})
    body = {"pool": {"name": None, "description": None, "admin_state_up": None, "tags": None,
                     "session_persistence": None}}
    out = api.expect("PUT", f"{POOLS}/{pool['id']}", 200, body)["pool"]
    assert (out["name"], out["description"], out["admin_state_up"], out["tags"]) == (
        "", "", True, [])
    assert out["session_persistence"] is None


@pytest.mark.parametrize("fields, field", [
    ({"lb_algorithm": None}, "lb_algorithm"),
    ({"lb_algorithm": "RANDOM"}, "lb_algorithm"),
    ({"protocol": "TCP"}, "protocol"),
    ({"loadbalancer_id": str(uuid.uuid4())}, "loadbalancer_id"),
    ({"listener_id": str(uuid.uuid4())}, "listener_id"),
    ({"session_persistence": {"type": "APP_COOKIE"}}, "session_persistence"),
    ({"tls_enabled": 1.0}, "tls_enabled"),
    ({"members": []}, "members"),
])
def test_update_invalid_is_400_and_changes_nothing(api: Api, fields: dict[str, Any],
                                                   field: str) -> None:
    lb = api.create_lb()
    pool = api.create_pool(loadbalancer_id=lb["id"])
    before = dump(api.db)
    assert_fault(api.put(f"{POOLS}/{pool['id']}", json={"pool": fields}), 400, field)
    assert dump(api.db) == before


def test_update_unknown_is_404(api: Api) -> None:
    assert_fault(api.put(f"{POOLS}/{uuid.uuid4()}", json={"pool": {"name": "x"}}), 404)


# --- delete --------------------------------------------------------------------------

def test_delete_takes_members_and_monitor_and_frees_the_listener(api: Api) -> None:
    ids = api.tree()
    api.woken.clear()
    assert api.delete(f"{POOLS}/{ids['pool']}").status_code == 204
    assert api.woken == [ids["lb"]]
    assert api.show("pool", ids["pool"])["provisioning_status"] == "PENDING_DELETE"
    assert api.show("listener", ids["listener"])["provisioning_status"] == "PENDING_UPDATE"
    api.converge(ids["lb"])
    assert_fault(api.get(f"{POOLS}/{ids['pool']}"), 404)
    assert_fault(api.get(f"/v2/lbaas/healthmonitors/{ids['hm']}"), 404)
    listener = api.show("listener", ids["listener"])
    assert listener["default_pool_id"] is None and listener["provisioning_status"] == "ACTIVE"
    counts = row_counts(api.db)
    assert (counts["pool"], counts["member"], counts["health_monitor"]) == (0, 0, 0)
    assert api.show("loadbalancer", ids["lb"])["pools"] == []


def test_delete_unknown_is_404(api: Api) -> None:
    assert_fault(api.delete(f"{POOLS}/{uuid.uuid4()}"), 404)


def test_delete_while_pending_is_409(api: Api) -> None:
    lb = api.create_lb()
    pool = api.create_pool(loadbalancer_id=lb["id"], settle=False)
    assert_fault(api.delete(f"{POOLS}/{pool['id']}"), 409, "PENDING_UPDATE")
    assert api.show("pool", pool["id"])["provisioning_status"] == "PENDING_CREATE"
