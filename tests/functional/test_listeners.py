"""/v2/lbaas/listeners."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.functional.conftest import Api, assert_fault, dump, row_counts

LISTENERS = "/v2/lbaas/listeners"
LISTENER_KEYS = {
    "id", "name", "description", "provisioning_status", "operating_status", "admin_state_up",
    "project_id", "tenant_id", "created_at", "updated_at", "tags", "protocol", "protocol_port",
    "connection_limit", "default_pool_id", "loadbalancers", "insert_headers",
    "timeout_client_data", "timeout_member_connect", "timeout_member_data",
    "timeout_tcp_inspect", "default_tls_container_ref", "sni_container_refs", "l7policies",
    "client_authentication", "client_ca_tls_container_ref", "client_crl_container_ref",
    "allowed_cidrs", "tls_ciphers", "tls_versions", "alpn_protocols", "hsts_max_age",
    "hsts_include_subdomains", "hsts_preload"}


def post(api: Api, **fields: Any) -> Any:
    return api.post(LISTENERS, json={"listener": fields})


# --- create ------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", ["HTTP", "TCP"])
def test_create_has_octavia_defaults(api: Api, protocol: str) -> None:
    lb = api.create_lb()
    api.woken.clear()
    response = post(api, loadbalancer_id=lb["id"], protocol=protocol, protocol_port=8080)
    assert response.status_code == 201, response.text
    li = response.json()["listener"]
    assert set(li) == LISTENER_KEYS
    assert (li["protocol"], li["protocol_port"]) == (protocol, 8080)
    assert li["name"] == "" and li["description"] == ""
    assert li["admin_state_up"] is True
    assert li["project_id"] == "p1" and li["tenant_id"] == "p1"
    assert li["provisioning_status"] == "PENDING_CREATE"
    assert li["operating_status"] == "OFFLINE"
    assert li["connection_limit"] == -1
    assert li["default_pool_id"] is None
    assert li["loadbalancers"] == [{"id": lb["id"]}]
    assert li["insert_headers"] == {}
    assert (li["timeout_client_data"], li["timeout_member_connect"], li["timeout_member_data"],
            li["timeout_tcp_inspect"]) == (50000, 5000, 50000, 0)
    assert li["sni_container_refs"] == [] and li["l7policies"] == []
    assert li["client_authentication"] == "NONE"
    assert li["tags"] == []
    assert api.woken == [lb["id"]]
    # The load balancer is PENDING_UPDATE until the worker has applied the change.
    assert api.show("loadbalancer", lb["id"])["provisioning_status"] == "PENDING_UPDATE"
    assert api.show("loadbalancer", lb["id"])["listeners"] == [{"id": li["id"]}]
    api.converge(lb["id"])
    assert api.show("listener", li["id"])["provisioning_status"] == "ACTIVE"
    assert api.show("loadbalancer", lb["id"])["provisioning_status"] == "ACTIVE"


def test_create_with_every_field(api: Api) -> None:
    lb = api.create_lb()
    li = api.create_listener(
        lb["id"], settle=False, name="web", description="public", admin_state_up=False,
        connection_limit=100, timeout_client_data=1, timeout_member_connect=2,
        timeout_member_data=3, timeout_tcp_inspect=4, tags=["blue"],
        insert_headers={"X-Forwarded-For": "true", "X-Forwarded-Port": "false"})
    assert (li["name"], li["description"], li["admin_state_up"], li["connection_limit"]) == (
        "web", "public", False, 100)
    assert (li["timeout_client_data"], li["timeout_member_connect"], li["timeout_member_data"],
            li["timeout_tcp_inspect"]) == (1, 2, 3, 4)
    assert li["insert_headers"] == {"X-Forwarded-For": "true", "X-Forwarded-Port": "false"}
    assert li["tags"] == ["blue"]
    assert api.show("listener", li["id"]) == li


def test_largest_connection_limit(api: Api) -> None:
    lb = api.create_lb()
    li = api.create_listener(lb["id"], connection_limit=2**31 - 1)
    assert api.show("listener", li["id"])["connection_limit"] == 2**31 - 1


def test_create_with_existing_default_pool(api: Api) -> None:
    lb = api.create_lb()
    pool = api.create_pool(loadbalancer_id=lb["id"])
    li = api.create_listener(lb["id"], default_pool_id=pool["id"])
    assert li["default_pool_id"] == pool["id"]
    assert api.show("pool", pool["id"])["listeners"] == [{"id": li["id"]}]


def test_create_with_inline_default_pool(api: Api) -> None:
    lb = api.create_lb()
    li = api.create_listener(lb["id"], default_pool={
        "name": "inline", "protocol": "HTTP", "lb_algorithm": "SOURCE_IP",
        "members": [{"address": "192.0.2.1", "protocol_port": 80}]})
    pool = api.show("pool", li["default_pool_id"])
    assert pool["name"] == "inline" and pool["lb_algorithm"] == "SOURCE_IP"
    assert len(pool["members"]) == 1
    assert pool["provisioning_status"] == "ACTIVE"


def test_create_with_inline_pool_without_protocol_is_400(api: Api) -> None:
    lb = api.create_lb()
    before = dump(api.db)
    response = post(api, loadbalancer_id=lb["id"], protocol="HTTP", protocol_port=80,
                    default_pool={"name": "half"})
    assert_fault(response, 400, "listener.default_pool.protocol")
    assert dump(api.db) == before


def test_create_with_default_pool_of_other_protocol_is_400(api: Api) -> None:
    lb = api.create_lb()
    pool = api.create_pool(loadbalancer_id=lb["id"], protocol="TCP")
    before = dump(api.db)
    response = post(api, loadbalancer_id=lb["id"], protocol="HTTP", protocol_port=80,
                    default_pool_id=pool["id"])
    assert_fault(response, 400, "pool protocol 'TCP' is invalid", "listener protocol is 'HTTP'")
    assert dump(api.db) == before


def test_tcp_listener_accepts_http_pool(api: Api) -> None:
    lb = api.create_lb()
    pool = api.create_pool(loadbalancer_id=lb["id"], protocol="HTTP")
    li = api.create_listener(lb["id"], protocol="TCP", default_pool_id=pool["id"])
    assert li["default_pool_id"] == pool["id"]


def test_create_with_pool_of_another_load_balancer_is_404(api: Api) -> None:
    lb = api.create_lb()
    other = api.create_lb()
    pool = api.create_pool(loadbalancer_id=other["id"])
    response = post(api, loadbalancer_id=lb["id"], protocol="HTTP", protocol_port=80,
                    default_pool_id=pool["id"])
    assert_fault(response, 404, f"Pool {pool['id']} not found.")
    assert row_counts(api.db)["listener"] == 0


def test_create_with_both_default_pool_forms_is_400(api: Api) -> None:
    lb = api.create_lb()
    pool = api.create_pool(loadbalancer_id=lb["id"])
    response = post(api, loadbalancer_id=lb["id"], protocol="HTTP", protocol_port=80,
                    default_pool_id=pool["id"],
                    default_pool={"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"})
    assert_fault(response, 400, "default_pool")
    assert row_counts(api.db)["listener"] == 0 and row_counts(api.db)["pool"] == 1


@pytest.mark.parametrize("first, second", [
    ("HTTP", "HTTP"), ("HTTP", "TCP"), ("TCP", "HTTP"), ("TCP", "TCP")])
def test_duplicate_port_in_the_same_family_is_409(api: Api, first: str, second: str) -> None:
    lb = api.create_lb()
    api.create_listener(lb["id"], protocol=first, protocol_port=80)
    before = dump(api.db)
    response = post(api, loadbalancer_id=lb["id"], protocol=second, protocol_port=80)
    assert_fault(response, 409, "protocol_port 80")
    assert dump(api.db) == before


def test_same_port_on_another_load_balancer_or_port_is_fine(api: Api) -> None:
    lb = api.create_lb()
    other = api.create_lb()
    api.create_listener(lb["id"], protocol_port=80)
    api.create_listener(other["id"], protocol_port=80)
    api.create_listener(lb["id"], protocol_port=81)
    assert row_counts(api.db)["listener"] == 3


def test_port_of_a_deleted_listener_is_free_again(api: Api) -> None:
    lb = api.create_lb()
    li = api.create_listener(lb["id"], protocol_port=80)
    api.expect("DELETE", f"{LISTENERS}/{li['id']}", 204)
    api.converge(lb["id"])
    api.create_listener(lb["id"], protocol_port=80)


def test_unknown_load_balancer_is_404(api: Api) -> None:
    missing = str(uuid.uuid4())
    response = post(api, loadbalancer_id=missing, protocol="HTTP", protocol_port=80)
    assert_fault(response, 404, f"Load Balancer {missing} not found.")
    assert sum(row_counts(api.db).values()) == 0


def test_unknown_default_pool_is_404_and_writes_nothing(api: Api) -> None:
    lb = api.create_lb()
    other = api.create_lb()
    foreign = api.create_pool(loadbalancer_id=other["id"])
    before = dump(api.db)
    for pool_id in (str(uuid.uuid4()), foreign["id"]):
        response = post(api, loadbalancer_id=lb["id"], protocol="HTTP", protocol_port=80,
                        default_pool_id=pool_id)
        assert_fault(response, 404, f"Pool {pool_id} not found.")
        assert dump(api.db) == before
    li = api.create_listener(lb["id"])
    before = dump(api.db)
    missing = str(uuid.uuid4())
    response = api.put(f"{LISTENERS}/{li['id']}", json={"listener": {"default_pool_id": missing}})
    assert_fault(response, 404, f"Pool {missing} not found.")
    assert dump(api.db) == before


def test_deleted_load_balancer_is_refused(api: Api) -> None:
    lb = api.create_lb()
    api.expect("DELETE", f"/v2/lbaas/loadbalancers/{lb['id']}", 204)
    api.converge(lb["id"])
    response = post(api, loadbalancer_id=lb["id"], protocol="HTTP", protocol_port=80)
    assert_fault(response, 404, f"Load Balancer {lb['id']} not found.")
    assert row_counts(api.db)["listener"] == 0


def test_create_while_load_balancer_pending_is_409(api: Api) -> None:
    lb = api.create_lb(settle=False)
    response = post(api, loadbalancer_id=lb["id"], protocol="HTTP", protocol_port=80)
    assert_fault(response, 409, f"Invalid state PENDING_CREATE of loadbalancer resource {lb['id']}")
    assert row_counts(api.db)["listener"] == 0


@pytest.mark.parametrize("fields, field", [
    ({"protocol": "udp"}, "protocol"),
    ({"protocol": "TERMINATED_HTTPS"}, "default_tls_container_ref"),
    ({"protocol": "http"}, "protocol"),
    ({"protocol": None}, "protocol"),
    ({"protocol_port": 0}, "protocol_port"),
    ({"protocol_port": 65536}, "protocol_port"),
    ({"protocol_port": "80.5"}, "protocol_port"),
    ({"protocol_port": 80.5}, "protocol_port"),
    ({"protocol_port": True}, "protocol_port"),
    ({"loadbalancer_id": "nope"}, "loadbalancer_id"),
    ({"loadbalancer_id": None}, "loadbalancer_id"),
    ({"connection_limit": -2}, "connection_limit"),
    # "10" is accepted: `openstack loadbalancer listener create --connection-limit` sends it.
    ({"connection_limit": "ten"}, "connection_limit"),
    ({"connection_limit": "-2"}, "connection_limit"),
    ({"connection_limit": 2**31}, "connection_limit"),  # beyond the column: never a 500
    ({"timeout_client_data": -1}, "timeout_client_data"),
    ({"timeout_member_connect": 2_073_600_001}, "timeout_member_connect"),
    ({"timeout_member_data": "5.5"}, "timeout_member_data"),
    ({"timeout_tcp_inspect": 1.5}, "timeout_tcp_inspect"),
    ({"insert_headers": {"X-Evil": "true"}}, "insert_headers"),
    ({"insert_headers": {"X-Forwarded-For": "yes"}}, "insert_headers"),
    ({"insert_headers": ["X-Forwarded-For"]}, "insert_headers"),
    ({"default_pool_id": "x"}, "default_pool_id"),
    ({"admin_state_up": "False"}, "admin_state_up"),
    ({"name": "n" * 256}, "name"),
    ({"description": 3}, "description"),
    ({"tags": [1]}, "tags"),
    ({"default_tls_container_ref": "x"}, "default_tls_container_ref"),
    ({"l7policies": [{"action": "NOPE"}]}, "l7policies"),
    ({"colour": "red"}, "colour"),
])
def test_invalid_field_is_400_naming_it(api: Api, fields: dict[str, Any], field: str) -> None:
    lb = api.create_lb()
    before = dump(api.db)
    body = {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80, **fields}
    assert_fault(api.post(LISTENERS, json={"listener": body}), 400, field)
    assert dump(api.db) == before


def test_missing_required_fields_are_named(api: Api) -> None:
    lb = api.create_lb()
    for missing in ("protocol", "protocol_port", "loadbalancer_id"):
        body = {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80}
        del body[missing]
        assert_fault(api.post(LISTENERS, json={"listener": body}), 400,
                     f"listener.{missing}", "Mandatory field missing")


def test_insert_headers_on_tcp_is_400(api: Api) -> None:
    lb = api.create_lb()
    response = post(api, loadbalancer_id=lb["id"], protocol="TCP", protocol_port=80,
                    insert_headers={"X-Forwarded-For": "true"})
    assert_fault(response, 400, "insert_headers")
    assert row_counts(api.db)["listener"] == 0


# --- show and update -----------------------------------------------------------------

def test_show_unknown_is_404(api: Api) -> None:
    missing = str(uuid.uuid4())
    assert_fault(api.get(f"{LISTENERS}/{missing}"), 404, f"Listener {missing} not found")


def test_show_fields(api: Api) -> None:
    lb = api.create_lb()
    li = api.create_listener(lb["id"], name="x")
    body = api.expect("GET", f"{LISTENERS}/{li['id']}?fields=id&fields=protocol_port", 200)
    assert body == {"listener": {"id": li["id"], "protocol_port": 80}}


def test_update(api: Api) -> None:
    lb = api.create_lb()
    li = api.create_listener(lb["id"])
    api.woken.clear()
    body = {"listener": {"name": "renamed", "description": "d", "admin_state_up": False,
                         "connection_limit": 5, "timeout_client_data": 7,
                         "timeout_member_connect": 8, "timeout_member_data": 9,
                         "timeout_tcp_inspect": 10, "tags": ["t"],
                         "insert_headers": {"X-Forwarded-Proto": "true"}}}
    out = api.expect("PUT", f"{LISTENERS}/{li['id']}", 200, body)["listener"]
    assert (out["name"], out["description"], out["admin_state_up"], out["connection_limit"]) == (
        "renamed", "d", False, 5)
    assert (out["timeout_client_data"], out["timeout_member_connect"],
            out["timeout_member_data"], out["timeout_tcp_inspect"]) == (7, 8, 9, 10)
    assert out["insert_headers"] == {"X-Forwarded-Proto": "true"}
    assert out["tags"] == ["t"]
    assert out["provisioning_status"] == "PENDING_UPDATE"
    assert (out["protocol"], out["protocol_port"]) == ("HTTP", 80)
    assert api.show("loadbalancer", lb["id"])["provisioning_status"] == "PENDING_UPDATE"
    assert api.woken == [lb["id"]]
    api.converge(lb["id"])
    shown = api.show("listener", li["id"])
    assert shown["provisioning_status"] == "ACTIVE" and shown["connection_limit"] == 5


def test_update_null_resets_to_defaults(api: Api) -> None:
    lb = api.create_lb()
    li = api.create_listener(lb["id"], name="n", description="d", admin_state_up=False,
                             connection_limit=5, timeout_client_data=1,
                             timeout_member_connect=2, timeout_member_data=3,
                             timeout_tcp_inspect=4, tags=["t"],
                             insert_headers={"X-Forwarded-For": "true"})
    body = {"listener": {k: None for k in (
        "name", "description", "admin_state_up", "connection_limit", "timeout_client_data",
        "timeout_member_connect", "timeout_member_data", "timeout_tcp_inspect", "tags",
        "insert_headers")}}
    out = api.expect("PUT", f"{LISTENERS}/{li['id']}", 200, body)["listener"]
    assert (out["name"], out["description"], out["admin_state_up"], out["connection_limit"]) == (
        "", "", True, -1)
    assert (out["timeout_client_data"], out["timeout_member_connect"],
            out["timeout_member_data"], out["timeout_tcp_inspect"]) == (50000, 5000, 50000, 0)
    assert out["tags"] == [] and out["insert_headers"] == {}


def test_update_default_pool(api: Api) -> None:
    lb = api.create_lb()
    li = api.create_listener(lb["id"])
    pool = api.create_pool(loadbalancer_id=lb["id"])
    out = api.expect("PUT", f"{LISTENERS}/{li['id']}", 200,
                     {"listener": {"default_pool_id": pool["id"]}})["listener"]
    assert out["default_pool_id"] == pool["id"]
    api.converge(lb["id"])
    assert api.show("pool", pool["id"])["listeners"] == [{"id": li["id"]}]
    out = api.expect("PUT", f"{LISTENERS}/{li['id']}", 200,
                     {"listener": {"default_pool_id": None}})["listener"]
    assert out["default_pool_id"] is None
    api.converge(lb["id"])
    assert api.show("pool", pool["id"])["listeners"] == []


def test_update_default_pool_of_other_protocol_is_400(api: Api) -> None:
    lb = api.create_lb()
    li = api.create_listener(lb["id"])
    pool = api.create_pool(loadbalancer_id=lb["id"], protocol="TCP")
    before = dump(api.db)
    response = api.put(f"{LISTENERS}/{li['id']}", json={"listener": {"default_pool_id": pool["id"]}})
    assert_fault(response, 400, "pool protocol 'TCP' is invalid")
    assert dump(api.db) == before


def test_update_insert_headers_on_tcp_is_400(api: Api) -> None:
    lb = api.create_lb()
    li = api.create_listener(lb["id"], protocol="TCP")
    before = dump(api.db)
    response = api.put(f"{LISTENERS}/{li['id']}",
                       json={"listener": {"insert_headers": {"X-Forwarded-For": "true"}}})
    assert_fault(response, 400, "insert_headers")
    assert dump(api.db) == before


@pytest.mark.parametrize("fields, field", [
    ({"protocol": "TCP"}, "protocol"),
    ({"protocol_port": 81}, "protocol_port"),
    ({"loadbalancer_id": str(uuid.uuid4())}, "loadbalancer_id"),
    ({"connection_limit": -5}, "connection_limit"),
    ({"timeout_client_data": "1.5"}, "timeout_client_data"),
    ({"default_pool_id": "zzz"}, "default_pool_id"),
    ({"admin_state_up": 0.0}, "admin_state_up"),
    ({"connection_limit": 2**40}, "connection_limit"),
    ({"name": "\x00"}, "name"),
])
def test_update_invalid_is_400_and_changes_nothing(api: Api, fields: dict[str, Any],
                                                   field: str) -> None:
    lb = api.create_lb()
    li = api.create_listener(lb["id"])
    before = dump(api.db)
    assert_fault(api.put(f"{LISTENERS}/{li['id']}", json={"listener": fields}), 400, field)
    assert dump(api.db) == before


def test_update_unknown_is_404(api: Api) -> None:
    assert_fault(api.put(f"{LISTENERS}/{uuid.uuid4()}", json={"listener": {"name": "x"}}), 404)


def test_update_while_pending_is_409(api: Api) -> None:
    lb = api.create_lb()
    li = api.create_listener(lb["id"], settle=False)
    response = api.put(f"{LISTENERS}/{li['id']}", json={"listener": {"name": "x"}})
    assert_fault(response, 409, "PENDING_UPDATE", lb["id"])
    assert api.show("listener", li["id"])["name"] == ""


# --- delete --------------------------------------------------------------------------

def test_delete_keeps_its_default_pool(api: Api) -> None:
    lb = api.create_lb()
    li = api.create_listener(lb["id"])
    pool = api.create_pool(listener_id=li["id"])
    api.woken.clear()
    assert api.delete(f"{LISTENERS}/{li['id']}").status_code == 204
    assert api.woken == [lb["id"]]
    assert api.show("listener", li["id"])["provisioning_status"] == "PENDING_DELETE"
    assert api.show("loadbalancer", lb["id"])["provisioning_status"] == "PENDING_UPDATE"
    api.converge(lb["id"])
    assert_fault(api.get(f"{LISTENERS}/{li['id']}"), 404)
    assert api.show("loadbalancer", lb["id"])["listeners"] == []
    kept = api.show("pool", pool["id"])
    assert kept["provisioning_status"] == "ACTIVE" and kept["listeners"] == []


def test_delete_unknown_is_404(api: Api) -> None:
    assert_fault(api.delete(f"{LISTENERS}/{uuid.uuid4()}"), 404)


def test_delete_while_pending_is_409(api: Api) -> None:
    lb = api.create_lb()
    li = api.create_listener(lb["id"])
    api.expect("PUT", f"{LISTENERS}/{li['id']}", 200, {"listener": {"name": "x"}})
    assert_fault(api.delete(f"{LISTENERS}/{li['id']}"), 409, "PENDING_UPDATE")
    assert api.show("listener", li["id"])["provisioning_status"] == "PENDING_UPDATE"


def test_stats_unknown_is_404(api: Api) -> None:
    assert_fault(api.get(f"{LISTENERS}/{uuid.uuid4()}/stats"), 404)


def test_stats_of_a_new_listener_are_zero(api: Api) -> None:
    lb = api.create_lb()
    li = api.create_listener(lb["id"])
    assert api.expect("GET", f"{LISTENERS}/{li['id']}/stats", 200) == {"stats": {
        "bytes_in": 0, "bytes_out": 0, "active_connections": 0, "total_connections": 0,
        "request_errors": 0}}


# --- HTTPS (TLS passthrough) ---------------------------------------------------------

def test_https_listener_with_https_pool_and_monitors(api: Api) -> None:
    lb = api.create_lb()
    li = api.create_listener(lb["id"], protocol="HTTPS", protocol_port=443)
    assert li["protocol"] == "HTTPS" and li["protocol_port"] == 443
    assert li["insert_headers"] == {}
    pool = api.create_pool(listener_id=li["id"], protocol="HTTPS")
    assert pool["protocol"] == "HTTPS"
    hm = api.create_hm(pool["id"], type="TLS-HELLO")
    assert hm["type"] == "TLS-HELLO"
    assert (hm["http_method"], hm["url_path"], hm["expected_codes"]) == (None, None, None)
    api.converge(lb["id"])
    shown = api.show("listener", li["id"])
    assert (shown["protocol"], shown["default_pool_id"]) == ("HTTPS", pool["id"])
    assert shown["provisioning_status"] == "ACTIVE"
    assert api.show("pool", pool["id"])["protocol"] == "HTTPS"
    assert api.show("healthmonitor", hm["id"])["type"] == "TLS-HELLO"
    # A second HTTPS pool on the same load balancer, with an HTTPS monitor.
    other = api.create_pool(loadbalancer_id=lb["id"], protocol="HTTPS")
    https_hm = api.create_hm(other["id"], type="HTTPS", url_path="/healthz")
    assert (https_hm["type"], https_hm["http_method"], https_hm["url_path"],
            https_hm["expected_codes"]) == ("HTTPS", "GET", "/healthz", "200")
    api.converge(lb["id"])
    assert api.show("healthmonitor", https_hm["id"])["provisioning_status"] == "ACTIVE"


def test_fully_populated_https_listener(api: Api) -> None:
    pool = {"protocol": "HTTPS", "lb_algorithm": "ROUND_ROBIN",
            "members": [{"address": "192.0.2.10", "protocol_port": 443}],
            "healthmonitor": {"type": "HTTPS", "delay": 5, "timeout": 3, "max_retries": 2}}
    lb = api.create_lb(listeners=[{"protocol": "HTTPS", "protocol_port": 443,
                                   "default_pool": pool}])
    shown = api.show("listener", lb["listeners"][0]["id"])
    assert shown["protocol"] == "HTTPS" and shown["provisioning_status"] == "ACTIVE"
    created = api.show("pool", lb["pools"][0]["id"])
    assert created["protocol"] == "HTTPS"
    hm = api.show("healthmonitor", lb["pools"][0]["healthmonitor"]["id"])
    assert (hm["type"], hm["http_method"], hm["url_path"], hm["expected_codes"]) == (
        "HTTPS", "GET", "/", "200")


@pytest.mark.parametrize("listener_protocol, pool_protocol", [("HTTP", "HTTPS"), ("HTTPS", "HTTP")])
def test_https_protocol_map_is_400(api: Api, listener_protocol: str, pool_protocol: str) -> None:
    lb = api.create_lb()
    li = api.create_listener(lb["id"], protocol=listener_protocol)
    pool = api.create_pool(loadbalancer_id=lb["id"], protocol=pool_protocol)
    before = dump(api.db)
    response = api.put(f"{LISTENERS}/{li['id']}", json={"listener": {"default_pool_id": pool["id"]}})
    assert_fault(response, 400, f"pool protocol '{pool_protocol}' is invalid",
                 f"listener protocol is '{listener_protocol}'")
    assert dump(api.db) == before
    body = {"protocol": listener_protocol, "protocol_port": 81,
            "default_pool": {"protocol": pool_protocol, "lb_algorithm": "ROUND_ROBIN"}}
    response = api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {
        "vip_subnet_id": api.subnet_id, "project_id": "p1", "listeners": [body]}})
    assert_fault(response, 400, f"pool protocol '{pool_protocol}' is invalid")


def test_insert_headers_on_https_listener_are_400(api: Api) -> None:
    lb = api.create_lb()
    before = dump(api.db)
    response = post(api, loadbalancer_id=lb["id"], protocol="HTTPS", protocol_port=443,
                    insert_headers={"X-Forwarded-For": "true"})
    assert_fault(response, 400, "insert_headers")
    assert dump(api.db) == before
