"""/v2/lbaas/loadbalancers: create (single and fully populated), show, update, delete,
status tree and statistics."""
from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from portus.db import models as m
from tests.functional.conftest import Api, assert_fault, dump, fail, row_counts

LBS = "/v2/lbaas/loadbalancers"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")
LB_KEYS = {"id", "name", "description", "provisioning_status", "operating_status",
           "admin_state_up", "project_id", "tenant_id", "created_at", "updated_at", "tags",
           "vip_address", "vip_port_id", "vip_subnet_id", "vip_network_id", "vip_qos_policy_id",
           "vip_sg_ids", "vip_vnic_type", "additional_vips", "provider", "flavor_id",
           "availability_zone", "listeners", "pools"}


def post_lb(api: Api, **fields: Any) -> Any:
    body = {"vip_subnet_id": api.subnet_id, "project_id": "p1", **fields}
    return api.post(LBS, json={"loadbalancer": body})


def full_graph(api: Api) -> dict[str, Any]:
    """Two listeners: HTTP:80 with a pool defined inline (members and a monitor), TCP:443
    whose default pool is defined in loadbalancer.pools and referenced by name."""
    return {
        "name": "graph", "vip_subnet_id": api.subnet_id, "project_id": "p1",
        "pools": [{"name": "tls", "protocol": "TCP", "lb_algorithm": "SOURCE_IP",
                   "members": [{"address": "192.0.2.21", "protocol_port": 443}]}],
        "listeners": [
            {"name": "web", "protocol": "HTTP", "protocol_port": 80,
             "default_pool": {
                 "name": "web-pool", "protocol": "HTTP", "lb_algorithm": "LEAST_CONNECTIONS",
                 "members": [{"address": "192.0.2.11", "protocol_port": 8080, "weight": 3},
                             {"address": "192.0.2.12", "protocol_port": 8080, "backup": True}],
                 "healthmonitor": {"type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 2,
                                   "url_path": "/healthz"}}},
            {"name": "tls", "protocol": "TCP", "protocol_port": 443,
             "default_pool": {"name": "tls"}},
        ],
    }


# --- create ------------------------------------------------------------------------

def test_create_minimal_has_octavia_defaults(api: Api) -> None:
    response = post_lb(api)
    assert response.status_code == 201, response.text
    lb = response.json()["loadbalancer"]
    assert set(lb) == LB_KEYS
    assert UUID_RE.match(lb["id"])
    assert lb["name"] == "" and lb["description"] == ""
    assert lb["admin_state_up"] is True
    assert lb["project_id"] == "p1" and lb["tenant_id"] == "p1"
    assert lb["provisioning_status"] == "PENDING_CREATE"
    assert lb["operating_status"] == "OFFLINE"
    subnet = api.cfg.network.subnets[0]
    assert lb["vip_subnet_id"] == subnet.id
    assert lb["vip_network_id"] == subnet.network_id
    assert lb["vip_address"] == subnet.allocation_start
    assert UUID_RE.match(lb["vip_port_id"])
    assert lb["vip_qos_policy_id"] is None
    assert lb["vip_sg_ids"] == [] and lb["additional_vips"] == []
    assert lb["vip_vnic_type"] == "normal"
    assert lb["provider"] == "amphora"
    assert lb["flavor_id"] is None and lb["availability_zone"] is None
    assert lb["listeners"] == [] and lb["pools"] == [] and lb["tags"] == []
    assert TIME_RE.match(lb["created_at"]) and lb["updated_at"] is None
    assert api.woken == [lb["id"]]
    assert row_counts(api.db)["load_balancer"] == 1


def test_create_echoes_given_fields(api: Api) -> None:
    lb = api.create_lb(settle=False, name="web", description="front door",
                       admin_state_up=False, tags=["a", "b"], vip_address="198.18.1.77")
    assert (lb["name"], lb["description"], lb["admin_state_up"]) == ("web", "front door", False)
    assert lb["tags"] == ["a", "b"]
    assert lb["vip_address"] == "198.18.1.77"
    shown = api.show("loadbalancer", lb["id"])
    assert shown == lb


def test_create_allocates_distinct_vips(api: Api) -> None:
    first = api.create_lb(settle=False)["vip_address"]
    second = api.create_lb(settle=False)["vip_address"]
    start = api.cfg.network.subnets[0].allocation_start
    assert first == start
    assert second == start[: start.rfind(".") + 1] + str(int(start.rsplit(".", 1)[1]) + 1)


def test_create_with_network_only_picks_its_subnet(api: Api) -> None:
    subnet = api.cfg.network.subnets[0]
    response = api.post(LBS, json={"loadbalancer": {"vip_network_id": subnet.network_id,
                                                     "project_id": "p1"}})
    assert response.status_code == 201, response.text
    assert response.json()["loadbalancer"]["vip_subnet_id"] == subnet.id


def test_tenant_id_is_an_alias_of_project_id(api: Api) -> None:
    response = api.post(LBS, json={"loadbalancer": {"vip_subnet_id": api.subnet_id,
                                                     "tenant_id": "t9"}})
    assert response.status_code == 201, response.text
    lb = response.json()["loadbalancer"]
    assert lb["project_id"] == "t9" and lb["tenant_id"] == "t9"


def test_project_comes_from_the_header_when_the_body_has_none(api: Api) -> None:
    response = api.post(LBS, json={"loadbalancer": {"vip_subnet_id": api.subnet_id}},
                        headers={"X-Project-Id": "from-header"})
    assert response.status_code == 201, response.text
    assert response.json()["loadbalancer"]["project_id"] == "from-header"


def test_missing_project_is_400(api: Api) -> None:
    response = api.post(LBS, json={"loadbalancer": {"vip_subnet_id": api.subnet_id}})
    assert_fault(response, 400, "Missing project ID")
    assert row_counts(api.db)["load_balancer"] == 0


def test_tenant_id_wins_over_project_id(api: Api) -> None:
    """Octavia sets project_id from the tenant_id alias after project_id: no conflict."""
    response = post_lb(api, project_id="p2", tenant_id="p3")
    assert response.status_code == 201, response.text
    lb = response.json()["loadbalancer"]
    assert lb["project_id"] == "p3" == lb["tenant_id"]
    api.converge(lb["id"])
    listener = api.expect("POST", "/v2/lbaas/listeners", 201, {"listener": {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80,
        "project_id": "p2", "tenant_id": "p3"}})["listener"]
    assert listener["project_id"] == "p3"


def test_no_vip_field_is_octavias_validation_failure(api: Api) -> None:
    response = api.post(LBS, json={"loadbalancer": {"project_id": "p1"}})
    assert_fault(response, 400, "Validation failure: VIP must contain one of: vip_port_id, "
                                "vip_network_id, vip_subnet_id.")
    assert row_counts(api.db)["load_balancer"] == 0


DROP = object()  # leave the attribute out of the body


@pytest.mark.parametrize("fields, field", [
    ({"vip_subnet_id": DROP}, "vip_subnet_id"),  # no VIP at all
    ({"vip_subnet_id": None}, "vip_subnet_id"),
    ({"vip_subnet_id": "not-a-uuid"}, "vip_subnet_id"),
    ({"vip_subnet_id": str(uuid.uuid4())}, "vip_subnet_id"),
    ({"vip_network_id": str(uuid.uuid4())}, "vip_network_id"),
    ({"vip_port_id": str(uuid.uuid4())}, "vip_port_id"),
    ({"vip_address": "not-an-ip"}, "vip_address"),
    ({"vip_address": "10.9.9.9"}, "vip_address"),
    ({"vip_address": "2001:db8::5"}, "vip_address"),
    ({"name": "x" * 256}, "name"),
    ({"name": 5}, "name"),
    ({"description": "d" * 256}, "description"),
    ({"admin_state_up": "True"}, "admin_state_up"),
    ({"admin_state_up": 0.5}, "admin_state_up"),
    ({"tags": "a"}, "tags"),
    ({"tags": ["a", "a"]}, "tags"),
    ({"tags": ["t" * 256]}, "tags"),
    ({"provider": "octavia-ovn"}, "Provider 'octavia-ovn' is not enabled."),
    ({"flavor_id": str(uuid.uuid4())}, "flavor_id"),
    ({"availability_zone": "az1"}, "availability_zone"),
    ({"vip_qos_policy_id": "nope"}, "vip_qos_policy_id"),
    ({"vip_qos_policy_id": str(uuid.uuid4())}, "QoS policy not found"),
    ({"vip_sg_ids": [str(uuid.uuid4())]}, "vip_sg_ids"),
    ({"vip_sg_ids": ["nope"]}, "vip_sg_ids"),
    ({"project_id": "p" * 37}, "project_id"),
    ({"listeners": {}}, "listeners"),
    ({"colour": "blue"}, "colour"),
    ({"name": "a\x00b"}, "name"),  # PostgreSQL cannot store NUL: never a 500
    ({"description": "\x00"}, "description"),
    ({"tags": ["ok", "n\x00l"]}, "tags"),
    ({"project_id": "p\x00"}, "project_id"),
])
def test_invalid_field_is_400_naming_it(api: Api, fields: dict[str, Any], field: str) -> None:
    body = {"vip_subnet_id": api.subnet_id, "project_id": "p1", **fields}
    body = {k: v for k, v in body.items() if v is not DROP}
    assert_fault(api.post(LBS, json={"loadbalancer": body}), 400, field)
    assert sum(row_counts(api.db).values()) == 0
    assert api.woken == []


def test_unicode_names_round_trip(api: Api) -> None:
    name = "\U0001F600" * 254 + "é"  # 255 characters, most of them 4 bytes
    lb = api.create_lb(settle=False, name=name, description="naïve ☃", tags=["日本"])
    shown = api.show("loadbalancer", lb["id"])
    assert (shown["name"], shown["description"], shown["tags"]) == (name, "naïve ☃", ["日本"])


def test_vip_address_in_use_is_409(api: Api) -> None:
    api.create_lb(settle=False, vip_address="198.18.1.50")
    assert_fault(post_lb(api, vip_address="198.18.1.50"), 409, "198.18.1.50")
    assert row_counts(api.db)["load_balancer"] == 1


def test_provider_octavia_and_amphora_are_the_same(api: Api) -> None:
    for provider in ("octavia", "amphora"):
        assert api.create_lb(settle=False, provider=provider)["provider"] == "amphora"


# --- fully populated create --------------------------------------------------------

def test_fully_populated_create_builds_the_whole_tree(api: Api) -> None:
    response = api.post(LBS, json={"loadbalancer": full_graph(api)})
    assert response.status_code == 201, response.text
    lb = response.json()["loadbalancer"]
    assert lb["provisioning_status"] == "PENDING_CREATE"
    assert [li["name"] for li in lb["listeners"]] == ["web", "tls"]
    assert {p["name"] for p in lb["pools"]} == {"tls", "web-pool"}
    listeners = {li["name"]: li for li in lb["listeners"]}
    pools = {p["name"]: p for p in lb["pools"]}
    assert listeners["web"]["default_pool_id"] == pools["web-pool"]["id"]
    assert listeners["tls"]["default_pool_id"] == pools["tls"]["id"]
    assert pools["tls"]["listeners"] == [{"id": listeners["tls"]["id"]}]
    assert len(pools["web-pool"]["members"]) == 2 and len(pools["tls"]["members"]) == 1
    for obj in lb["listeners"] + lb["pools"]:
        assert obj["provisioning_status"] == "PENDING_CREATE"
        assert obj["operating_status"] == "OFFLINE"
        assert obj["project_id"] == "p1"
    assert row_counts(api.db) == {**{t: 0 for t in row_counts(api.db)},
                                  "load_balancer": 1, "vip": 1, "listener": 2, "pool": 2,
                                  "member": 3, "health_monitor": 1, "ip_allocation": 1}
    assert api.woken == [lb["id"]]

    # Members start NO_MONITOR in a pool without a monitor, OFFLINE in one with.
    tree = api.get(f"{LBS}/{lb['id']}/status").json()["statuses"]["loadbalancer"]
    by_name = {li["name"]: li for li in tree["listeners"]}
    web_pool = by_name["web"]["pools"][0]
    assert {mb["operating_status"] for mb in web_pool["members"]} == {"OFFLINE"}
    assert web_pool["health_monitor"]["type"] == "HTTP"
    tls_pool = by_name["tls"]["pools"][0]
    assert [mb["operating_status"] for mb in tls_pool["members"]] == ["NO_MONITOR"]
    assert "health_monitor" not in tls_pool

    members = api.get(f"/v2/lbaas/pools/{pools['web-pool']['id']}/members").json()["members"]
    assert {(mb["address"], mb["weight"], mb["backup"]) for mb in members} == {
        ("192.0.2.11", 3, False), ("192.0.2.12", 1, True)}
    hm = api.get("/v2/lbaas/healthmonitors").json()["healthmonitors"][0]
    assert hm["url_path"] == "/healthz" and hm["pools"] == [{"id": pools["web-pool"]["id"]}]

    api.converge(lb["id"])
    tree = api.get(f"{LBS}/{lb['id']}/status").json()["statuses"]["loadbalancer"]
    assert tree["provisioning_status"] == "ACTIVE"
    for li in tree["listeners"]:
        assert li["provisioning_status"] == "ACTIVE"
        for pool in li["pools"]:
            assert pool["provisioning_status"] == "ACTIVE"
            assert {mb["provisioning_status"] for mb in pool["members"]} == {"ACTIVE"}


def test_fully_populated_pool_only_in_pools_is_an_lb_pool(api: Api) -> None:
    body = {"vip_subnet_id": api.subnet_id, "project_id": "p1",
            "pools": [{"name": "spare", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}]}
    lb = api.expect("POST", LBS, 201, {"loadbalancer": body})["loadbalancer"]
    assert [p["name"] for p in lb["pools"]] == ["spare"]
    assert lb["pools"][0]["listeners"] == [] and lb["listeners"] == []


def test_fully_populated_listener_without_pool(api: Api) -> None:
    body = {"vip_subnet_id": api.subnet_id, "project_id": "p1",
            "listeners": [{"protocol": "TCP", "protocol_port": 22, "connection_limit": 10}]}
    lb = api.expect("POST", LBS, 201, {"loadbalancer": body})["loadbalancer"]
    assert lb["listeners"][0]["default_pool_id"] is None
    assert lb["listeners"][0]["connection_limit"] == 10
    assert lb["pools"] == []


def _bad_graphs() -> list[Any]:
    """(mutation of full_graph, code, text the fault must contain). Each fails deep
    inside the tree, some only once rows were already added to the session."""
    def second_member_address(g: dict[str, Any]) -> None:
        g["listeners"][0]["default_pool"]["members"][1]["address"] = "10.0.0.300"

    def second_member_port(g: dict[str, Any]) -> None:
        g["listeners"][0]["default_pool"]["members"][1]["protocol_port"] = 0

    def protocol_mismatch(g: dict[str, Any]) -> None:
        g["listeners"][0]["default_pool"]["protocol"] = "TCP"

    def referenced_pool_mismatch(g: dict[str, Any]) -> None:
        g["listeners"][0]["default_pool"] = {"name": "tls"}  # TCP pool under HTTP

    def duplicate_member(g: dict[str, Any]) -> None:
        members = g["listeners"][0]["default_pool"]["members"]
        members[1]["address"] = members[0]["address"]
        members[1]["protocol_port"] = members[0]["protocol_port"]

    def duplicate_port(g: dict[str, Any]) -> None:
        g["listeners"][1]["protocol_port"] = 80

    def monitor_http_field_on_tcp(g: dict[str, Any]) -> None:
        g["listeners"][0]["default_pool"]["healthmonitor"]["type"] = "TCP"

    def monitor_retries(g: dict[str, Any]) -> None:
        g["listeners"][0]["default_pool"]["healthmonitor"]["max_retries"] = 11

    def unknown_reference(g: dict[str, Any]) -> None:
        g["listeners"][1]["default_pool"] = {"name": "nowhere"}

    def duplicate_pool_name(g: dict[str, Any]) -> None:
        g["listeners"][0]["default_pool"]["name"] = "tls"

    def unnamed_pool(g: dict[str, Any]) -> None:
        del g["pools"][0]["name"]

    def pool_without_protocol(g: dict[str, Any]) -> None:
        del g["pools"][0]["protocol"]

    def member_outside_subnet(g: dict[str, Any]) -> None:
        g["pools"][0]["members"][0]["subnet_id"] = g["vip_subnet_id"]

    def insert_headers_on_tcp(g: dict[str, Any]) -> None:
        g["listeners"][1]["insert_headers"] = {"X-Forwarded-For": "true"}

    def vip_outside_subnet(g: dict[str, Any]) -> None:
        g["vip_address"] = "10.1.1.1"

    def default_pool_id_in_graph(g: dict[str, Any]) -> None:
        g["listeners"][1]["default_pool_id"] = str(uuid.uuid4())
        del g["listeners"][1]["default_pool"]

    return [
        pytest.param(second_member_address, 400,
                     "loadbalancer.listeners.0.default_pool.members.1.address",
                     id="2nd-member-address"),
        pytest.param(second_member_port, 400,
                     "loadbalancer.listeners.0.default_pool.members.1.protocol_port",
                     id="2nd-member-port"),
        pytest.param(protocol_mismatch, 400, "pool protocol 'TCP' is invalid", id="protocols"),
        pytest.param(referenced_pool_mismatch, 400, "pool protocol 'TCP' is invalid",
                     id="referenced-pool-protocol"),
        pytest.param(duplicate_member, 409, "192.0.2.11", id="duplicate-member"),
        pytest.param(duplicate_port, 409, "protocol_port 80", id="duplicate-port"),
        pytest.param(monitor_http_field_on_tcp, 400, "url_path", id="hm-url-path-on-tcp"),
        pytest.param(monitor_retries, 400, "healthmonitor.max_retries", id="hm-retries"),
        pytest.param(unknown_reference, 400, "loadbalancer.listeners.1.default_pool.name",
                     id="unknown-pool-name"),
        pytest.param(duplicate_pool_name, 400, "unique", id="duplicate-pool-name"),
        pytest.param(unnamed_pool, 400, "loadbalancer.pools.0.name", id="unnamed-pool"),
        pytest.param(pool_without_protocol, 400, "loadbalancer.pools.0.protocol",
                     id="pool-without-protocol"),
        pytest.param(member_outside_subnet, 400, "address", id="member-subnet"),
        pytest.param(insert_headers_on_tcp, 400, "insert_headers", id="insert-headers-tcp"),
        pytest.param(vip_outside_subnet, 400, "vip_address", id="vip-outside-subnet"),
        pytest.param(default_pool_id_in_graph, 400, "default_pool_id", id="default-pool-id"),
    ]


@pytest.mark.parametrize("mutate, code, text", _bad_graphs())
def test_failed_fully_populated_create_writes_nothing(api: Api, mutate: Any, code: int,
                                                      text: str) -> None:
    graph = full_graph(api)
    mutate(graph)
    assert_fault(api.post(LBS, json={"loadbalancer": graph}), code, text)
    assert row_counts(api.db) == {table: 0 for table in row_counts(api.db)}
    assert api.woken == []
    # And the VIP it would have had is still free.
    assert api.create_lb(settle=False)["vip_address"] == api.cfg.network.subnets[0].allocation_start


# --- show --------------------------------------------------------------------------

def test_show(api: Api) -> None:
    created = api.create_lb(settle=False, name="shown")
    shown = api.show("loadbalancer", created["id"])
    assert shown == created
    api.converge(created["id"])
    shown = api.show("loadbalancer", created["id"])
    assert shown["provisioning_status"] == "ACTIVE"
    assert shown["operating_status"] == "OFFLINE"


def test_show_lists_children_ids(api: Api) -> None:
    ids = api.tree()
    lb = api.show("loadbalancer", ids["lb"])
    assert lb["listeners"] == [{"id": ids["listener"]}]
    assert lb["pools"] == [{"id": ids["pool"]}]


def test_show_fields(api: Api) -> None:
    lb = api.create_lb(name="f")
    body = api.expect("GET", f"{LBS}/{lb['id']}?fields=name&fields=vip_address", 200)
    assert body == {"loadbalancer": {"name": "f", "vip_address": lb["vip_address"]}}


def test_show_unknown_is_404(api: Api) -> None:
    missing = str(uuid.uuid4())
    assert_fault(api.get(f"{LBS}/{missing}"), 404, f"Load Balancer {missing} not found")


def test_same_api_under_every_prefix(api: Api) -> None:
    lb = api.create_lb()
    for prefix in ("/v2/lbaas", "/v2.0/lbaas", "/v2"):
        assert api.expect("GET", f"{prefix}/loadbalancers/{lb['id']}", 200)["loadbalancer"][
            "id"] == lb["id"]


# --- update ------------------------------------------------------------------------

def test_update(api: Api) -> None:
    lb = api.create_lb(name="old", description="d", tags=["x"])
    api.woken.clear()
    body = {"loadbalancer": {"name": "new", "description": "desc", "admin_state_up": False,
                             "tags": ["y", "z"]}}
    response = api.put(f"{LBS}/{lb['id']}", json=body)
    assert response.status_code == 200, response.text
    out = response.json()["loadbalancer"]
    assert (out["name"], out["description"], out["admin_state_up"], out["tags"]) == (
        "new", "desc", False, ["y", "z"])
    assert out["provisioning_status"] == "PENDING_UPDATE"
    assert out["vip_address"] == lb["vip_address"]
    assert api.woken == [lb["id"]]
    api.converge(lb["id"])
    shown = api.show("loadbalancer", lb["id"])
    assert shown["provisioning_status"] == "ACTIVE" and shown["name"] == "new"
    assert shown["updated_at"] is not None


def test_update_null_resets_to_defaults(api: Api) -> None:
    lb = api.create_lb(name="n", description="d", admin_state_up=False, tags=["t"])
    body = {"loadbalancer": {"name": None, "description": None, "admin_state_up": None,
                             "tags": None}}
    out = api.expect("PUT", f"{LBS}/{lb['id']}", 200, body)["loadbalancer"]
    assert (out["name"], out["description"], out["admin_state_up"], out["tags"]) == (
        "", "", True, [])


def test_update_empty_body_changes_nothing_but_the_generation(api: Api) -> None:
    lb = api.create_lb(name="same")
    out = api.expect("PUT", f"{LBS}/{lb['id']}", 200, {"loadbalancer": {}})["loadbalancer"]
    assert out["name"] == "same" and out["provisioning_status"] == "PENDING_UPDATE"


@pytest.mark.parametrize("fields, field", [
    ({"vip_address": "198.18.1.99"}, "vip_address"),
    ({"vip_subnet_id": str(uuid.uuid4())}, "vip_subnet_id"),
    ({"project_id": "p2"}, "project_id"),
    ({"provider": "amphora"}, "provider"),
    ({"listeners": []}, "listeners"),
    ({"name": ["x"]}, "name"),
    ({"admin_state_up": "No"}, "admin_state_up"),
    ({"description": "d" * 256}, "description"),
])
def test_update_invalid_is_400_and_changes_nothing(api: Api, fields: dict[str, Any],
                                                   field: str) -> None:
    lb = api.create_lb(name="keep")
    assert_fault(api.put(f"{LBS}/{lb['id']}", json={"loadbalancer": fields}), 400, field)
    shown = api.show("loadbalancer", lb["id"])
    assert shown["provisioning_status"] == "ACTIVE" and shown["name"] == "keep"


def test_update_while_pending_create_is_409(api: Api) -> None:
    lb = api.create_lb(settle=False)
    response = api.put(f"{LBS}/{lb['id']}", json={"loadbalancer": {"name": "x"}})
    assert_fault(response, 409, f"Invalid state PENDING_CREATE of loadbalancer resource {lb['id']}")
    assert api.show("loadbalancer", lb["id"])["name"] == ""


def test_update_while_pending_update_is_409(api: Api) -> None:
    lb = api.create_lb()
    api.expect("PUT", f"{LBS}/{lb['id']}", 200, {"loadbalancer": {"name": "one"}})
    response = api.put(f"{LBS}/{lb['id']}", json={"loadbalancer": {"name": "two"}})
    assert_fault(response, 409, "PENDING_UPDATE")
    assert api.show("loadbalancer", lb["id"])["name"] == "one"


def test_update_retries_a_load_balancer_in_error(api: Api) -> None:
    lb = api.create_lb(settle=False)
    fail(api.db, lb["id"], "no amphora")
    shown = api.show("loadbalancer", lb["id"])
    assert shown["provisioning_status"] == "ERROR"
    assert shown["status_reason"] == "no amphora"
    out = api.expect("PUT", f"{LBS}/{lb['id']}", 200, {"loadbalancer": {"name": "again"}})
    assert out["loadbalancer"]["provisioning_status"] == "PENDING_UPDATE"
    assert "status_reason" not in out["loadbalancer"]
    api.converge(lb["id"])
    assert api.show("loadbalancer", lb["id"])["provisioning_status"] == "ACTIVE"


def test_update_unknown_is_404(api: Api) -> None:
    missing = str(uuid.uuid4())
    assert_fault(api.put(f"{LBS}/{missing}", json={"loadbalancer": {"name": "x"}}), 404,
                 missing)


# --- delete ------------------------------------------------------------------------

def test_delete(api: Api) -> None:
    lb = api.create_lb()
    api.woken.clear()
    response = api.delete(f"{LBS}/{lb['id']}")
    assert response.status_code == 204 and response.content == b""
    assert api.woken == [lb["id"]]
    assert api.show("loadbalancer", lb["id"])["provisioning_status"] == "PENDING_DELETE"
    # A second delete while the first is in progress is refused.
    assert_fault(api.delete(f"{LBS}/{lb['id']}"), 409, "PENDING_DELETE")
    api.converge(lb["id"])  # the worker marks it DELETED
    assert api.lb_status(lb["id"]) == "DELETED"
    assert_fault(api.get(f"{LBS}/{lb['id']}"), 404, lb["id"])
    assert_fault(api.delete(f"{LBS}/{lb['id']}"), 404, lb["id"])
    assert_fault(api.put(f"{LBS}/{lb['id']}", json={"loadbalancer": {}}), 404)
    assert_fault(api.get(f"{LBS}/{lb['id']}/status"), 404)
    assert api.get(LBS).json()["loadbalancers"] == []


def test_deleted_vip_address_can_be_reused(api: Api) -> None:
    lb = api.create_lb(vip_address="198.18.1.40")
    api.expect("DELETE", f"{LBS}/{lb['id']}", 204)
    api.converge(lb["id"])
    again = api.create_lb(settle=False, vip_address="198.18.1.40")
    assert again["vip_address"] == "198.18.1.40"


def test_delete_with_children_needs_cascade(api: Api) -> None:
    ids = api.tree()
    api.woken.clear()
    assert_fault(api.delete(f"{LBS}/{ids['lb']}"), 400, f"Validation failure: Cannot delete "
                 f"Load Balancer {ids['lb']} - it has children")
    assert api.show("loadbalancer", ids["lb"])["provisioning_status"] == "ACTIVE"
    assert api.woken == []


def test_delete_with_only_a_pool_needs_cascade(api: Api) -> None:
    lb = api.create_lb()
    api.create_pool(loadbalancer_id=lb["id"])
    assert_fault(api.delete(f"{LBS}/{lb['id']}"), 400)


@pytest.mark.parametrize("query", ["?cascade=true", "?cascade=True"])
def test_cascade_delete_removes_the_tree(api: Api, query: str) -> None:
    ids = api.tree()
    other = api.tree()  # a second tree, which must survive
    response = api.delete(f"{LBS}/{ids['lb']}{query}")
    assert response.status_code == 204, response.text
    assert api.show("loadbalancer", ids["lb"])["provisioning_status"] == "PENDING_DELETE"
    api.converge(ids["lb"])
    assert_fault(api.get(f"{LBS}/{ids['lb']}"), 404)
    assert_fault(api.get(f"/v2/lbaas/listeners/{ids['listener']}"), 404)
    assert_fault(api.get(f"/v2/lbaas/pools/{ids['pool']}"), 404)
    assert_fault(api.get(f"/v2/lbaas/healthmonitors/{ids['hm']}"), 404)
    counts = row_counts(api.db)
    assert (counts["listener"], counts["pool"], counts["member"], counts["health_monitor"]) == (
        1, 1, 1, 1)
    assert counts["load_balancer"] == 2  # the DELETED row stays until housekeeping
    assert api.show("loadbalancer", other["lb"])["provisioning_status"] == "ACTIVE"
    assert [lb["id"] for lb in api.get(LBS).json()["loadbalancers"]] == [other["lb"]]


def test_delete_of_a_load_balancer_in_error_is_allowed(api: Api) -> None:
    lb = api.create_lb(settle=False)
    fail(api.db, lb["id"])
    assert api.delete(f"{LBS}/{lb['id']}").status_code == 204
    assert api.show("loadbalancer", lb["id"])["provisioning_status"] == "PENDING_DELETE"


def test_delete_while_pending_create_is_409(api: Api) -> None:
    lb = api.create_lb(settle=False)
    assert_fault(api.delete(f"{LBS}/{lb['id']}"), 409, "PENDING_CREATE")


def test_delete_unknown_is_404(api: Api) -> None:
    assert_fault(api.delete(f"{LBS}/{uuid.uuid4()}"), 404)


# --- status tree and statistics ----------------------------------------------------

def test_status_tree_shape(api: Api) -> None:
    ids = api.tree()
    tree = api.expect("GET", f"{LBS}/{ids['lb']}/status", 200)
    assert tree == {"statuses": {"loadbalancer": {
        "id": ids["lb"], "name": "lb", "provisioning_status": "ACTIVE",
        "operating_status": "OFFLINE",
        "listeners": [{
            "id": ids["listener"], "name": "web", "provisioning_status": "ACTIVE",
            "operating_status": "OFFLINE",
            "pools": [{
                "id": ids["pool"], "name": "pool", "provisioning_status": "ACTIVE",
                "operating_status": "OFFLINE",
                "health_monitor": {"id": ids["hm"], "name": "hm", "type": "HTTP",
                                   "provisioning_status": "ACTIVE",
                                   "operating_status": "ONLINE"},
                "members": [{"id": ids["member"], "name": "m1", "provisioning_status": "ACTIVE",
                             "operating_status": "OFFLINE", "address": "192.0.2.10",
                             "protocol_port": 8080}],
            }],
        }],
    }}}
    assert api.expect("GET", f"{LBS}/{ids['lb']}/statuses", 200) == tree


def test_status_tree_of_a_bare_load_balancer(api: Api) -> None:
    lb = api.create_lb(settle=False)
    tree = api.expect("GET", f"{LBS}/{lb['id']}/status", 200)
    assert tree == {"statuses": {"loadbalancer": {
        "id": lb["id"], "name": "", "provisioning_status": "PENDING_CREATE",
        "operating_status": "OFFLINE", "listeners": []}}}


def test_status_unknown_is_404(api: Api) -> None:
    assert_fault(api.get(f"{LBS}/{uuid.uuid4()}/status"), 404)


def test_stats_shape_and_sums(api: Api) -> None:
    lb = api.create_lb()
    web = api.create_listener(lb["id"], protocol_port=80)
    ssh = api.create_listener(lb["id"], protocol="TCP", protocol_port=22)
    zero = {"bytes_in": 0, "bytes_out": 0, "active_connections": 0, "total_connections": 0,
            "request_errors": 0}
    assert api.expect("GET", f"{LBS}/{lb['id']}/stats", 200) == {"stats": zero}
    big = 5_000_000_000  # more than 32 bits
    with api.db.write() as session:
        session.add_all([
            m.ListenerStatistics(listener_id=web["id"], amphora_id="a1", bytes_in=big,
                                 bytes_out=20, active_connections=3, total_connections=40,
                                 request_errors=1),
            m.ListenerStatistics(listener_id=web["id"], amphora_id="a2", bytes_in=1,
                                 bytes_out=2, active_connections=1, total_connections=4,
                                 request_errors=0),
            m.ListenerStatistics(listener_id=ssh["id"], amphora_id="a1", bytes_in=100,
                                 bytes_out=200, active_connections=5, total_connections=6,
                                 request_errors=7),
            m.ListenerStatistics(listener_id=str(uuid.uuid4()), amphora_id="a1", bytes_in=999,
                                 bytes_out=999, active_connections=999, total_connections=999,
                                 request_errors=999),
        ])
    assert api.expect("GET", f"{LBS}/{lb['id']}/stats", 200) == {"stats": {
        "bytes_in": big + 101, "bytes_out": 222, "active_connections": 9,
        "total_connections": 50, "request_errors": 8}}
    assert api.expect("GET", f"/v2/lbaas/listeners/{web['id']}/stats", 200) == {"stats": {
        "bytes_in": big + 1, "bytes_out": 22, "active_connections": 4, "total_connections": 44,
        "request_errors": 1}}


def test_stats_unknown_is_404(api: Api) -> None:
    assert_fault(api.get(f"{LBS}/{uuid.uuid4()}/stats"), 404)


def test_generation_moves_once_per_accepted_change(api: Api) -> None:
    """The generation the worker must apply moves once per accepted change."""
    lb = api.create_lb()
    with api.db.read() as session:
        before = session.execute(sa.select(m.LoadBalancer.desired_generation)
                                 .where(m.LoadBalancer.id == lb["id"])).scalar_one()
    api.expect("PUT", f"{LBS}/{lb['id']}", 200, {"loadbalancer": {"name": "g"}})
    api.put(f"{LBS}/{lb['id']}", json={"loadbalancer": {"name": "refused"}})  # 409
    with api.db.read() as session:
        after = session.execute(sa.select(m.LoadBalancer.desired_generation)
                                .where(m.LoadBalancer.id == lb["id"])).scalar_one()
    assert after == before + 1


# --- concurrency -------------------------------------------------------------------

def _at_once(n: int, call: Any) -> list[Any]:
    """Run call(i) for i in range(n) on n threads, released together."""
    barrier = threading.Barrier(n)

    def run(i: int) -> Any:
        barrier.wait()
        return call(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_concurrent_creates_get_distinct_vips(api: Api) -> None:
    responses = _at_once(8, lambda i: post_lb(api, name=f"c{i}"))
    assert [r.status_code for r in responses] == [201] * 8, [r.text for r in responses]
    vips = {r.json()["loadbalancer"]["vip_address"] for r in responses}
    assert len(vips) == 8
    assert row_counts(api.db)["vip"] == 8


def test_concurrent_creates_of_one_vip_address_one_wins(api: Api) -> None:
    responses = _at_once(6, lambda i: post_lb(api, vip_address="198.18.1.123"))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 5
    for r in responses:
        if r.status_code == 409:
            assert_fault(r, 409, "198.18.1.123")
    assert row_counts(api.db)["load_balancer"] == 1


def test_fully_populated_pool_shared_by_two_listeners(api: Api) -> None:
    body = {"vip_subnet_id": api.subnet_id, "project_id": "p1",
            "pools": [{"name": "shared", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}],
            "listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "shared"}},
                          {"protocol": "TCP", "protocol_port": 81,
                           "default_pool": {"name": "shared"}}]}
    lb = api.expect("POST", LBS, 201, {"loadbalancer": body})["loadbalancer"]
    assert len(lb["pools"]) == 1
    pool = lb["pools"][0]
    assert {li["default_pool_id"] for li in lb["listeners"]} == {pool["id"]}
    assert sorted(x["id"] for x in pool["listeners"]) == sorted(li["id"] for li in lb["listeners"])
    assert row_counts(api.db)["pool"] == 1


@pytest.mark.parametrize("fields, fragment", [
    ({"vip_sg_ids": [str(uuid.uuid4())]}, "security groups"),
    ({"vip_qos_policy_id": str(uuid.uuid4())}, "QoS policies"),
])
def test_update_naming_network_objects_portus_lacks_is_400(api: Api, fields: dict[str, Any],
                                                           fragment: str) -> None:
    lb = api.create_lb()
    before = dump(api.db)
    assert_fault(api.put(f"{LBS}/{lb['id']}", json={"loadbalancer": fields}), 400, fragment)
    assert dump(api.db) == before


def test_fully_populated_create_answers_the_full_graph(api: Api) -> None:
    # As Octavia's LoadBalancerFullResponse: children in full, each as its own GET shows
    # it but for the back references to what encloses it.
    graph = full_graph(api)
    graph["listeners"][0]["l7policies"] = [
        {"name": "api", "action": "REDIRECT_TO_POOL", "redirect_pool": {
            "name": "api-pool", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"},
         "rules": [{"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"},
                   {"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X-Api",
                    "value": "1", "invert": True}]},
        {"action": "REJECT", "position": 1}]
    lb = api.expect("POST", LBS, 201, {"loadbalancer": graph})["loadbalancer"]
    for listener in lb["listeners"]:
        shown = api.show("listener", listener["id"])
        assert shown.pop("loadbalancers") == [{"id": lb["id"]}]
        policies = [api.expect("GET", f"/v2/lbaas/l7policies/{p['id']}", 200)["l7policy"]
                    for p in shown["l7policies"]]
        for policy in policies:
            policy["rules"] = [api.expect("GET", f"/v2/lbaas/l7policies/{policy['id']}/rules/"
                                                 f"{r['id']}", 200)["rule"]
                               for r in policy["rules"]]
        assert listener == {**shown, "l7policies": policies}
    web = lb["listeners"][0]
    assert [p["action"] for p in web["l7policies"]] == ["REJECT", "REDIRECT_TO_POOL"]
    assert sorted((r["type"], r["invert"]) for r in web["l7policies"][1]["rules"]) == [
        ("HEADER", True), ("PATH", False)]
    assert lb["listeners"][1]["l7policies"] == []
    pools = {p["name"]: p for p in lb["pools"]}
    assert set(pools) == {"tls", "web-pool", "api-pool"}
    for pool in lb["pools"]:
        shown = api.show("pool", pool["id"])
        assert shown.pop("loadbalancers") == [{"id": lb["id"]}]
        hm_id = shown.pop("healthmonitor_id")
        # The graph lists members as the request did; a pool's GET in the database's order.
        shown["members"] = [api.show("member", mb["id"], pool["id"])
                            for mb in sorted(shown["members"], key=lambda mb: [
                                x["id"] for x in pool["members"]].index(mb["id"]))]
        if hm_id is None:
            assert "healthmonitor" not in pool
        else:
            hm = api.show("healthmonitor", hm_id)
            assert hm.pop("pools") == [{"id": pool["id"]}]
            shown["healthmonitor"] = hm
        assert pool == shown
    assert pools["web-pool"]["healthmonitor"]["url_path"] == "/healthz"
    assert [(mb["address"], mb["weight"]) for mb in pools["web-pool"]["members"]] == [
        ("192.0.2.11", 3), ("192.0.2.12", 1)]
    assert pools["api-pool"]["members"] == [] and pools["api-pool"]["listeners"] == []
    # Once applied, the graph shows in the usual bodies.
    api.converge(lb["id"])
    refs = api.show("loadbalancer", lb["id"])["pools"]
    assert sorted(r["id"] for r in refs) == sorted(p["id"] for p in lb["pools"])
