"""/v2/lbaas/quotas and quota enforcement on every create."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from portus.common import constants as C

from tests.functional.conftest import Api, assert_fault, dump

FIELDS = {"loadbalancer", "load_balancer", "listener", "member", "pool", "healthmonitor",
          "health_monitor", "l7policy", "l7rule"}
Q = "/v2/lbaas/quotas"


@pytest.fixture
def quotas(api: Api) -> Iterator[Any]:
    """The API's [quotas] section, restored after the test."""
    saved = vars(api.cfg.quotas).copy()
    yield api.cfg.quotas
    vars(api.cfg.quotas).update(saved)


def set_quota(api: Api, project: str, **limits: Any) -> dict[str, Any]:
    return api.expect("PUT", f"{Q}/{project}", 202, {"quota": limits})["quota"]  # type: ignore[no-any-return]


# --- the resource ---------------------------------------------------------------------

def test_a_project_without_quota_gets_the_defaults(api: Api) -> None:
    quota = api.expect("GET", f"{Q}/p1", 200)["quota"]
    assert set(quota) == FIELDS | {"project_id", "tenant_id"}
    assert quota["project_id"] == quota["tenant_id"] == "p1"
    assert all(quota[f] == -1 for f in FIELDS)


def test_defaults_follow_the_configuration(api: Api, quotas: Any) -> None:
    quotas.default_member_quota = 50
    for path, project in ((f"{Q}/p1/default", "p1"), (f"{Q}/defaults", "defaults")):
        quota = api.expect("GET", path, 200)["quota"]
        assert quota["member"] == 50 and quota["pool"] == -1, path
        # Octavia answers /quotas/defaults as the quota of a project named "defaults".
        assert set(quota) == FIELDS | {"project_id", "tenant_id"}, path
        assert quota["project_id"] == quota["tenant_id"] == project, path
    assert api.expect("GET", f"{Q}/p1", 200)["quota"]["member"] == 50


def test_put_is_202_returns_the_merged_quota_and_is_kept(api: Api, quotas: Any) -> None:
    quotas.default_pool_quota = 7
    quota = set_quota(api, "p1", loadbalancer=5, member=0)
    assert (quota["loadbalancer"], quota["load_balancer"], quota["member"], quota["pool"],
            quota["listener"]) == (5, 5, 0, 7, -1)
    assert api.expect("GET", f"{Q}/p1", 200)["quota"] == quota
    # A second PUT changes only what it names; null goes back to the default.
    quota = set_quota(api, "p1", loadbalancer=None, l7rule=3)
    assert (quota["loadbalancer"], quota["member"], quota["l7rule"]) == (-1, 0, 3)


def test_deprecated_aliases_are_accepted(api: Api) -> None:
    quota = set_quota(api, "p1", load_balancer=4, health_monitor=2)
    assert (quota["loadbalancer"], quota["healthmonitor"]) == (4, 2)
    # The current name wins when both are given.
    assert set_quota(api, "p1", loadbalancer=1, load_balancer=9)["loadbalancer"] == 1


@pytest.mark.parametrize("body", [
    {"loadbalancer": -2}, {"member": 2_000_000_001}, {"pool": "5.0"}, {"pool": 1.5},
    {"pool": True}, {"bogus": 1},
])
def test_invalid_quota_is_400(api: Api, body: dict[str, Any]) -> None:
    assert_fault(api.put(f"{Q}/p1", json={"quota": body}), 400)


def test_limits_of_the_range_are_accepted(api: Api) -> None:
    quota = set_quota(api, "p1", loadbalancer=2_000_000_000, member=-1, pool=0)
    assert (quota["loadbalancer"], quota["member"], quota["pool"]) == (2_000_000_000, -1, 0)


def test_delete_is_202_and_resets_to_defaults(api: Api) -> None:
    set_quota(api, "p1", listener=3)
    response = api.delete(f"{Q}/p1")
    assert response.status_code == 202 and not response.content
    assert api.expect("GET", f"{Q}/p1", 200)["quota"]["listener"] == -1
    assert_fault(api.delete(f"{Q}/never-set"), 404, "never-set")


def test_list_shows_effective_values(api: Api, quotas: Any) -> None:
    quotas.default_listener_quota = 4
    set_quota(api, "p1", member=10)
    set_quota(api, "p2", pool=1, listener=6)
    body = api.expect("GET", Q, 200)
    assert body["quotas_links"] == []
    rows = {q["project_id"]: q for q in body["quotas"]}
    assert set(rows) == {"p1", "p2"}
    assert all(set(q) == FIELDS | {"project_id", "tenant_id"} for q in rows.values())
    assert rows["p1"]["tenant_id"] == "p1"
    # A limit left unset shows the default (-1 unless configured), as Octavia shows it.
    assert (rows["p1"]["member"], rows["p1"]["pool"], rows["p1"]["listener"]) == (10, -1, 4)
    assert (rows["p2"]["member"], rows["p2"]["pool"], rows["p2"]["listener"]) == (-1, 1, 6)
    assert rows["p1"] == api.expect("GET", f"{Q}/p1", 200)["quota"]
    assert [q["project_id"] for q in api.expect("GET", f"{Q}?project_id=p2", 200)["quotas"]] == ["p2"]
    assert [q["project_id"] for q in api.expect("GET", f"{Q}?tenant_id=p2", 200)["quotas"]] == ["p2"]
    # Limits filter and sort as shown, the default included.
    assert [q["project_id"] for q in api.expect("GET", f"{Q}?listener=4", 200)["quotas"]] == ["p1"]
    assert [q["project_id"] for q in api.expect("GET", f"{Q}?pool=-1", 200)["quotas"]] == ["p1"]
    assert [q["project_id"] for q in api.expect(
        "GET", f"{Q}?sort=listener:desc", 200)["quotas"]] == ["p2", "p1"]
    assert [q["project_id"] for q in api.expect(
        "GET", f"{Q}?sort=load_balancer,member:desc", 200)["quotas"]] == ["p1", "p2"]
    assert_fault(api.get(f"{Q}?member=many"), 400, "many")
    page = api.expect("GET", f"{Q}?limit=1", 200)
    assert [q["project_id"] for q in page["quotas"]] == ["p1"]
    assert [link["rel"] for link in page["quotas_links"]] == ["next"]


# --- enforcement ------------------------------------------------------------------------

def test_load_balancer_quota(api: Api) -> None:
    set_quota(api, "p1", loadbalancer=1)
    lb = api.create_lb()
    before = dump(api.db)
    response = api.post("/v2/lbaas/loadbalancers",
                        json={"loadbalancer": {"vip_subnet_id": api.subnet_id, "project_id": "p1"}})
    assert assert_fault(response, 403) == "Quota has been met for resources: Load Balancer"
    assert dump(api.db) == before  # nothing was created, no VIP kept
    # Another project is not affected.
    api.create_lb(project_id="p2")
    # A deleted load balancer no longer counts.
    api.expect("DELETE", f"/v2/lbaas/loadbalancers/{lb['id']}", 204)
    api.converge(lb["id"])
    api.create_lb()


def test_configured_default_applies_without_a_row(api: Api, quotas: Any) -> None:
    quotas.default_listener_quota = 1
    lb = api.create_lb()
    api.create_listener(lb["id"])
    response = api.post("/v2/lbaas/listeners", json={"listener": {
        "loadbalancer_id": lb["id"], "protocol": "TCP", "protocol_port": 81}})
    assert_fault(response, 403, "Quota has been met for resources: Listener")
    # A project row with -1 overrides the default.
    set_quota(api, "p1", listener=-1)
    api.create_listener(lb["id"], protocol="TCP", protocol_port=81)


def test_each_single_create_is_counted(api: Api) -> None:
    ids = api.tree(hm=False, members=1)
    set_quota(api, "p1", member=1, pool=1, healthmonitor=0)
    assert_fault(api.post(f"/v2/lbaas/pools/{ids['pool']}/members", json={"member": {
        "address": "192.0.2.50", "protocol_port": 80}}), 403, "Member")
    assert_fault(api.post("/v2/lbaas/pools", json={"pool": {
        "loadbalancer_id": ids["lb"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}),
        403, "Pool")
    assert_fault(api.post("/v2/lbaas/healthmonitors", json={"healthmonitor": {
        "pool_id": ids["pool"], "type": "TCP", "delay": 5, "timeout": 3, "max_retries": 2}}),
        403, "Health Monitor")
    assert api.lb_status(ids["lb"]) == C.ACTIVE  # refused creates leave the tree alone


def test_fully_populated_create_counts_every_object(api: Api) -> None:
    set_quota(api, "p1", member=2)
    pool = {"name": "pool", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
            "members": [{"address": f"192.0.2.{10 + i}", "protocol_port": 80}
                        for i in range(3)]}
    body = {"vip_subnet_id": api.subnet_id, "project_id": "p1", "pools": [pool],
            "listeners": [{"protocol": "HTTP", "protocol_port": 80,
                           "default_pool": {"name": "pool"}}]}
    before = dump(api.db)
    response = api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body})
    assert_fault(response, 403, "Quota has been met for resources: Member")
    assert dump(api.db) == before
    pool["members"] = pool["members"][:2]
    api.expect("POST", "/v2/lbaas/loadbalancers", 201, {"loadbalancer": body})


def test_graph_names_every_kind_over_quota(api: Api) -> None:
    set_quota(api, "p1", listener=0, pool=0)
    body = {"vip_subnet_id": api.subnet_id, "project_id": "p1",
            "listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": {
                "name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}]}
    message = assert_fault(api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body}), 403)
    assert message == "Quota has been met for resources: Listener, Pool"


def test_listener_with_a_new_default_pool_counts_the_pool(api: Api) -> None:
    lb = api.create_lb()
    set_quota(api, "p1", pool=0)
    response = api.post("/v2/lbaas/listeners", json={"listener": {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80,
        "default_pool": {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}})
    assert_fault(response, 403, "Pool")
    api.create_listener(lb["id"])  # without a pool it fits


def test_quota_of_zero_on_an_unused_kind_does_not_block_others(api: Api) -> None:
    set_quota(api, "p1", l7policy=0, l7rule=0, healthmonitor=0)
    ids = api.tree(hm=False)
    assert api.show("loadbalancer", ids["lb"])["provisioning_status"] == "ACTIVE"


def test_l7_policies_and_rules(api: Api) -> None:
    ids = api.tree(hm=False, members=0)
    set_quota(api, "p1", l7policy=1, l7rule=1)
    rule = {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/a"}
    response = api.post("/v2/lbaas/l7policies", json={"l7policy": {
        "listener_id": ids["listener"], "action": "REJECT", "rules": [rule, dict(rule, value="/b")]}})
    assert_fault(response, 403, "Quota has been met for resources: L7 Rule")
    policy = api.expect("POST", "/v2/lbaas/l7policies", 201, {"l7policy": {
        "listener_id": ids["listener"], "action": "REJECT", "rules": [rule]}})["l7policy"]
    api.settle()
    assert_fault(api.post("/v2/lbaas/l7policies", json={"l7policy": {
        "listener_id": ids["listener"], "action": "REJECT"}}), 403, "L7 Policy")
    assert_fault(api.post(f"/v2/lbaas/l7policies/{policy['id']}/rules", json={"rule": rule}),
                 403, "L7 Rule")


def test_batch_member_update_counts_the_net_increase(api: Api) -> None:
    ids = api.tree(hm=False, members=2)
    set_quota(api, "p1", member=2)
    path = f"/v2/lbaas/pools/{ids['pool']}/members"
    three = [{"address": f"192.0.2.{10 + i}", "protocol_port": 8080} for i in range(3)]
    assert_fault(api.put(path, json={"members": three}), 403, "Member")
    # Replacing one member by another keeps the count: allowed.
    response = api.put(path, json={"members": [three[0], three[2]]})
    assert response.status_code == 202, response.text


def test_concurrent_creates_cannot_both_take_the_last_unit(api: Api) -> None:
    from concurrent.futures import ThreadPoolExecutor
    set_quota(api, "p1", loadbalancer=2)
    api.create_lb()

    def create(i: int) -> int:
        return api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {
            "vip_subnet_id": api.subnet_id, "project_id": "p1", "name": f"lb{i}"}}).status_code

    with ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(create, range(4)))
    assert codes == [201, 403, 403, 403], codes
    assert len(api.expect("GET", "/v2/lbaas/loadbalancers", 200)["loadbalancers"]) == 2
