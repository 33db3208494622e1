"""/v2/lbaas/pools/{pool_id}/members."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.functional.conftest import Api, assert_fault, dump, row_counts

MEMBER_KEYS = {
    "id", "name", "description", "provisioning_status", "operating_status", "admin_state_up",
    "project_id", "tenant_id", "created_at", "updated_at", "tags", "address", "protocol_port",
    "weight", "backup", "subnet_id", "monitor_address", "monitor_port", "pool_id", "vnic_type"}


def members_path(pool_id: str) -> str:
    return f"/v2/lbaas/pools/{pool_id}/members"


def post(api: Api, pool_id: str, **fields: Any) -> Any:
    return api.post(members_path(pool_id), json={"member": fields})


def active_pool(api: Api, hm: bool = False) -> dict[str, str]:
    """An ACTIVE load balancer, listener and (empty) default pool."""
    return api.tree(hm=hm, members=0)


# --- create ------------------------------------------------------------------------

def test_create_has_octavia_defaults(api: Api) -> None:
    ids = active_pool(api)
    api.woken.clear()
    response = post(api, ids["pool"], address="192.0.2.5", protocol_port=80)
    assert response.status_code == 201, response.text
    mb = response.json()["member"]
    assert set(mb) == MEMBER_KEYS
    assert (mb["address"], mb["protocol_port"]) == ("192.0.2.5", 80)
    assert mb["name"] == "" and mb["description"] == ""
    assert mb["weight"] == 1 and mb["backup"] is False and mb["admin_state_up"] is True
    assert mb["subnet_id"] is None
    assert mb["monitor_address"] is None and mb["monitor_port"] is None
    assert mb["pool_id"] == ids["pool"]
    assert mb["project_id"] == "p1" and mb["tenant_id"] == "p1"
    assert mb["provisioning_status"] == "PENDING_CREATE"
    assert mb["operating_status"] == "NO_MONITOR"  # the pool has no health monitor
    assert mb["vnic_type"] == "normal" and mb["tags"] == []
    assert api.woken == [ids["lb"]]
    # The pool, its listener and the load balancer are PENDING_UPDATE until applied.
    for kind in ("pool", "listener", "loadbalancer"):
        key = {"loadbalancer": "lb"}.get(kind, kind)
        assert api.show(kind, ids[key])["provisioning_status"] == "PENDING_UPDATE", kind
    api.converge(ids["lb"])
    for kind in ("pool", "listener", "loadbalancer"):
        key = {"loadbalancer": "lb"}.get(kind, kind)
        assert api.show(kind, ids[key])["provisioning_status"] == "ACTIVE", kind
    shown = api.show("member", mb["id"], pool_id=ids["pool"])
    assert shown["provisioning_status"] == "ACTIVE"
    assert api.show("pool", ids["pool"])["members"] == [{"id": mb["id"]}]


def test_create_in_a_monitored_pool_starts_offline(api: Api) -> None:
    ids = active_pool(api, hm=True)
    mb = api.create_member(ids["pool"], settle=False)
    assert mb["operating_status"] == "OFFLINE"


def test_create_with_every_field(api: Api) -> None:
    ids = active_pool(api)
    subnet = api.cfg.network.subnets[0]
    mb = api.create_member(ids["pool"], settle=False, name="web1", address="198.18.1.200",
                           protocol_port=8443, weight=256, backup=True, admin_state_up=False,
                           subnet_id=subnet.id, monitor_address="198.18.1.201",
                           monitor_port=9000, tags=["x"])
    assert (mb["name"], mb["address"], mb["protocol_port"], mb["weight"], mb["backup"],
            mb["admin_state_up"], mb["subnet_id"], mb["monitor_address"], mb["monitor_port"],
            mb["tags"]) == ("web1", "198.18.1.200", 8443, 256, True, False, subnet.id,
                            "198.18.1.201", 9000, ["x"])
    assert api.show("member", mb["id"], pool_id=ids["pool"]) == mb


def test_weight_zero_is_allowed(api: Api) -> None:
    ids = active_pool(api)
    assert api.create_member(ids["pool"], weight=0)["weight"] == 0


def test_ipv6_address_is_normalised(api: Api) -> None:
    ids = active_pool(api)
    mb = api.create_member(ids["pool"], address="2001:DB8:0:0::1")
    assert mb["address"] == "2001:db8::1"


def test_duplicate_address_and_port_is_409(api: Api) -> None:
    ids = active_pool(api)
    api.create_member(ids["pool"], address="192.0.2.7", protocol_port=80)
    before = dump(api.db)
    assert_fault(post(api, ids["pool"], address="192.0.2.7", protocol_port=80), 409,
                 "192.0.2.7", "80")
    assert dump(api.db) == before


def test_same_address_other_port_or_pool_is_fine(api: Api) -> None:
    ids = active_pool(api)
    other = api.create_pool(loadbalancer_id=ids["lb"])
    api.create_member(ids["pool"], address="192.0.2.7", protocol_port=80)
    api.create_member(ids["pool"], address="192.0.2.7", protocol_port=81)
    api.create_member(other["id"], address="192.0.2.7", protocol_port=80)
    assert row_counts(api.db)["member"] == 3


def test_subnet_checks(api: Api) -> None:
    ids = active_pool(api)
    subnet = api.cfg.network.subnets[0]
    assert_fault(post(api, ids["pool"], address="10.0.0.1", protocol_port=80,
                      subnet_id=subnet.id), 400, "address")
    missing = str(uuid.uuid4())
    assert_fault(post(api, ids["pool"], address="10.0.0.1", protocol_port=80,
                      subnet_id=missing), 400, "subnet_id", missing)
    assert row_counts(api.db)["member"] == 0
    assert api.show("loadbalancer", ids["lb"])["provisioning_status"] == "ACTIVE"


def test_reserved_address_is_refused(api: Api) -> None:
    ids = active_pool(api)
    assert_fault(post(api, ids["pool"], address="169.254.169.254", protocol_port=80), 400,
                 "address", "reserved")
    assert row_counts(api.db)["member"] == 0


def test_create_in_unknown_pool_is_404(api: Api) -> None:
    missing = str(uuid.uuid4())
    assert_fault(post(api, missing, address="192.0.2.1", protocol_port=80), 404,
                 f"Pool {missing} not found")


def test_create_while_pending_is_409(api: Api) -> None:
    ids = active_pool(api)
    api.create_member(ids["pool"], settle=False, address="192.0.2.1")
    before = dump(api.db)
    assert_fault(post(api, ids["pool"], address="192.0.2.2", protocol_port=80), 409,
                 "PENDING_UPDATE", ids["lb"])
    assert dump(api.db) == before


@pytest.mark.parametrize("fields, field", [
    ({"address": "192.0.2.300"}, "address"),
    ({"address": "example.com"}, "address"),
    ({"address": None}, "address"),
    ({"address": 3232235521}, "address"),
    ({"protocol_port": 0}, "protocol_port"),
    ({"protocol_port": 65536}, "protocol_port"),
    ({"protocol_port": "80.5"}, "protocol_port"),
    ({"weight": -1}, "weight"),
    ({"weight": 257}, "weight"),
    ({"weight": "1.5"}, "weight"),
    ({"weight": 1.0}, "weight"),
    ({"backup": "False"}, "backup"),
    ({"backup": 0.0}, "backup"),
    ({"admin_state_up": None}, "admin_state_up"),
    ({"subnet_id": "subnet-1"}, "subnet_id"),
    ({"monitor_address": "x"}, "monitor_address"),
    ({"monitor_port": 70000}, "monitor_port"),
    ({"name": "n" * 256}, "name"),
    ({"tags": "t"}, "tags"),
    ({"pool_id": str(uuid.uuid4())}, "pool_id"),
    ({"request_sriov": True}, "request_sriov"),
    ({"colour": "red"}, "colour"),
])
def test_invalid_field_is_400_naming_it(api: Api, fields: dict[str, Any], field: str) -> None:
    ids = active_pool(api)
    before = dump(api.db)
    body = {"address": "192.0.2.1", "protocol_port": 80, **fields}
    assert_fault(api.post(members_path(ids["pool"]), json={"member": body}), 400, field)
    assert dump(api.db) == before


# --- show, list, update ------------------------------------------------------------

def test_member_in_the_wrong_pool_is_404(api: Api) -> None:
    ids = active_pool(api)
    other = api.create_pool(loadbalancer_id=ids["lb"])
    mb = api.create_member(ids["pool"])
    wrong = f"{members_path(other['id'])}/{mb['id']}"
    assert_fault(api.get(wrong), 404, f"Member {mb['id']} not found")
    assert_fault(api.put(wrong, json={"member": {"weight": 5}}), 404)
    assert_fault(api.delete(wrong), 404)
    shown = api.show("member", mb["id"], pool_id=ids["pool"])
    assert shown["weight"] == 1 and shown["provisioning_status"] == "ACTIVE"


def test_unknown_member_and_pool_are_404(api: Api) -> None:
    ids = active_pool(api)
    missing = str(uuid.uuid4())
    assert_fault(api.get(f"{members_path(ids['pool'])}/{missing}"), 404, missing)
    assert_fault(api.get(f"{members_path(missing)}/{missing}"), 404, f"Pool {missing}")
    assert_fault(api.get(members_path(missing)), 404, f"Pool {missing}")


def test_list_is_per_pool(api: Api) -> None:
    ids = active_pool(api)
    other = api.create_pool(loadbalancer_id=ids["lb"])
    a = api.create_member(ids["pool"], address="192.0.2.1")
    api.create_member(other["id"], address="192.0.2.2")
    body = api.expect("GET", members_path(ids["pool"]), 200)
    assert [mb["id"] for mb in body["members"]] == [a["id"]]
    assert body["members_links"] == []


def test_update(api: Api) -> None:
    ids = active_pool(api)
    mb = api.create_member(ids["pool"])
    api.woken.clear()
    body = {"member": {"name": "n", "weight": 10, "backup": True, "admin_state_up": False,
                       "monitor_address": "192.0.2.99", "monitor_port": 9, "tags": ["t"]}}
    out = api.expect("PUT", f"{members_path(ids['pool'])}/{mb['id']}", 200, body)["member"]
    assert (out["name"], out["weight"], out["backup"], out["admin_state_up"],
            out["monitor_address"], out["monitor_port"], out["tags"]) == (
        "n", 10, True, False, "192.0.2.99", 9, ["t"])
    assert out["provisioning_status"] == "PENDING_UPDATE"
    assert (out["address"], out["protocol_port"]) == (mb["address"], mb["protocol_port"])
    assert api.show("pool", ids["pool"])["provisioning_status"] == "PENDING_UPDATE"
    assert api.show("listener", ids["listener"])["provisioning_status"] == "PENDING_UPDATE"
    assert api.woken == [ids["lb"]]
    api.converge(ids["lb"])
    assert api.show("member", mb["id"], pool_id=ids["pool"])["provisioning_status"] == "ACTIVE"


def test_update_null_resets_to_defaults(api: Api) -> None:
    ids = active_pool(api)
    mb = api.create_member(ids["pool"], name="n", weight=9, backup=True, admin_state_up=False,
                           monitor_address="192.0.2.9", monitor_port=99, tags=["t"])
    body = {"member": {k: None for k in ("name", "weight", "backup", "admin_state_up",
                                         "monitor_address", "monitor_port", "tags")}}
    out = api.expect("PUT", f"{members_path(ids['pool'])}/{mb['id']}", 200, body)["member"]
    assert (out["name"], out["weight"], out["backup"], out["admin_state_up"],
            out["monitor_address"], out["monitor_port"], out["tags"]) == (
        "", 1, False, True, None, None, [])


@pytest.mark.parametrize("fields, field", [
    ({"address": "192.0.2.2"}, "address"),
    ({"protocol_port": 81}, "protocol_port"),
    ({"subnet_id": str(uuid.uuid4())}, "subnet_id"),
    ({"weight": 300}, "weight"),
    ({"backup": "YES"}, "backup"),
    ({"monitor_port": 0}, "monitor_port"),
])
def test_update_invalid_is_400_and_changes_nothing(api: Api, fields: dict[str, Any],
                                                   field: str) -> None:
    ids = active_pool(api)
    mb = api.create_member(ids["pool"])
    before = dump(api.db)
    response = api.put(f"{members_path(ids['pool'])}/{mb['id']}", json={"member": fields})
    assert_fault(response, 400, field)
    assert dump(api.db) == before


def test_update_while_pending_is_409(api: Api) -> None:
    ids = active_pool(api)
    mb = api.create_member(ids["pool"])
    api.expect("PUT", f"/v2/lbaas/pools/{ids['pool']}", 200, {"pool": {"name": "busy"}})
    before = dump(api.db)
    response = api.put(f"{members_path(ids['pool'])}/{mb['id']}", json={"member": {"weight": 3}})
    assert_fault(response, 409, "PENDING_UPDATE")
    assert dump(api.db) == before


# --- delete --------------------------------------------------------------------------

def test_delete(api: Api) -> None:
    ids = active_pool(api)
    keep = api.create_member(ids["pool"], address="192.0.2.1")
    mb = api.create_member(ids["pool"], address="192.0.2.2")
    api.woken.clear()
    response = api.delete(f"{members_path(ids['pool'])}/{mb['id']}")
    assert response.status_code == 204 and response.content == b""
    assert api.woken == [ids["lb"]]
    shown = api.show("member", mb["id"], pool_id=ids["pool"])
    assert shown["provisioning_status"] == "PENDING_DELETE"
    assert api.show("pool", ids["pool"])["provisioning_status"] == "PENDING_UPDATE"
    api.converge(ids["lb"])
    assert_fault(api.get(f"{members_path(ids['pool'])}/{mb['id']}"), 404)
    assert api.show("pool", ids["pool"])["members"] == [{"id": keep["id"]}]
    # The (address, port) is free again.
    api.create_member(ids["pool"], address="192.0.2.2")


def test_delete_while_pending_is_409(api: Api) -> None:
    ids = active_pool(api)
    mb = api.create_member(ids["pool"], settle=False)
    assert_fault(api.delete(f"{members_path(ids['pool'])}/{mb['id']}"), 409, "PENDING_UPDATE")
    assert api.show("member", mb["id"], pool_id=ids["pool"])["provisioning_status"] == (
        "PENDING_CREATE")
