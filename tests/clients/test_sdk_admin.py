"""openstacksdk against the other resource families: L7 policies and rules, quotas,
flavors and flavor profiles, availability zones and their profiles, providers,
amphorae, batch member updates and tag filters."""
from __future__ import annotations

import json
from typing import Any

import pytest
from openstack import exceptions as sdk_exc

from tests.clients.conftest import Portus
from tests.clients.test_sdk import PROJECT, wait


def _lb_with_pool(sdk: Any, portus: Portus) -> tuple[Any, Any, Any]:
    lb = sdk.load_balancer.create_load_balancer(
        name="lb", vip_subnet_id=portus.subnet.id, project_id=PROJECT,
        listeners=[{"name": "web", "protocol": "HTTP", "protocol_port": 80,
                    "default_pool": {"name": "pool", "protocol": "HTTP",
                                     "lb_algorithm": "ROUND_ROBIN"}}])
    wait(sdk, lb.id)
    listener = sdk.load_balancer.find_listener("web")
    pool = sdk.load_balancer.find_pool("pool")
    return lb, listener, pool


def test_l7_policies_and_rules(sdk: Any, portus: Portus) -> None:
    lb, listener, _pool = _lb_with_pool(sdk, portus)
    other = sdk.load_balancer.create_pool(name="api", loadbalancer_id=lb.id, protocol="HTTP",
                                          lb_algorithm="ROUND_ROBIN")
    wait(sdk, lb.id)
    policy = sdk.load_balancer.create_l7_policy(
        name="to-api", listener_id=listener.id, action="REDIRECT_TO_POOL",
        redirect_pool_id=other.id, position=1)
    wait(sdk, lb.id)
    rule = sdk.load_balancer.create_l7_rule(policy, type="PATH", compare_type="STARTS_WITH",
                                            value="/api")
    wait(sdk, lb.id)
    policy = sdk.load_balancer.get_l7_policy(policy.id)
    assert policy.provisioning_status == "ACTIVE" and [r["id"] for r in policy.rules] == [rule.id]
    assert sdk.load_balancer.find_l7_policy("to-api").id == policy.id
    assert [p.id for p in sdk.load_balancer.l7_policies(listener_id=listener.id)] == [policy.id]
    sdk.load_balancer.update_l7_rule(rule, policy, rule_value="/v2", invert=True)
    wait(sdk, lb.id)
    got = sdk.load_balancer.get_l7_rule(rule, policy)
    assert (got.rule_value, got.invert) == ("/v2", True)
    sdk.load_balancer.update_l7_policy(policy, action="REJECT", redirect_pool_id=None)
    wait(sdk, lb.id)
    assert sdk.load_balancer.get_l7_policy(policy.id).action == "REJECT"
    assert sdk.load_balancer.get_listener(listener.id).l7_policies == [{"id": policy.id}]
    sdk.load_balancer.delete_l7_rule(rule, policy)
    wait(sdk, lb.id)
    sdk.load_balancer.delete_l7_policy(policy)
    wait(sdk, lb.id)
    assert list(sdk.load_balancer.l7_policies()) == []


def test_quotas(sdk: Any, portus: Portus) -> None:
    defaults = sdk.load_balancer.get_quota_default()
    assert defaults.load_balancers is not None
    sdk.load_balancer.update_quota("p-quota", load_balancers=1, listeners=5)
    quota = sdk.load_balancer.get_quota("p-quota")
    assert (quota.load_balancers, quota.listeners) == (1, 5)
    assert "p-quota" in [q.project_id for q in sdk.load_balancer.quotas()]
    lb = sdk.load_balancer.create_load_balancer(vip_subnet_id=portus.subnet.id,
                                                project_id="p-quota")
    with pytest.raises(sdk_exc.HttpException) as info:
        sdk.load_balancer.create_load_balancer(vip_subnet_id=portus.subnet.id,
                                               project_id="p-quota")
    assert info.value.status_code == 403 and "uota" in str(info.value)
    wait(sdk, lb.id)
    sdk.load_balancer.delete_quota("p-quota")
    assert sdk.load_balancer.get_quota("p-quota").load_balancers == defaults.load_balancers


def test_providers_flavors_and_availability_zones(sdk: Any, portus: Portus) -> None:
    providers = {p.name for p in sdk.load_balancer.providers()}
    assert "amphora" in providers
    capabilities = {c.name for c in sdk.load_balancer.provider_flavor_capabilities("amphora")}
    assert "loadbalancer_topology" in capabilities

    profile = sdk.load_balancer.create_flavor_profile(
        name="single", provider_name="amphora",
        flavor_data=json.dumps({"loadbalancer_topology": "SINGLE"}))
    flavor = sdk.load_balancer.create_flavor(name="small", flavor_profile_id=profile.id,
                                             description="one amphora", is_enabled=True)
    assert sdk.load_balancer.find_flavor("small").id == flavor.id
    sdk.load_balancer.update_flavor(flavor, description="still one")
    assert sdk.load_balancer.get_flavor(flavor.id).description == "still one"
    sdk.load_balancer.update_flavor_profile(profile, name="single-2")
    assert sdk.load_balancer.find_flavor_profile("single-2").id == profile.id
    lb = sdk.load_balancer.create_load_balancer(vip_subnet_id=portus.subnet.id,
                                                project_id=PROJECT, flavor_id=flavor.id)
    assert wait(sdk, lb.id).flavor_id == flavor.id

    az_profile = sdk.load_balancer.create_availability_zone_profile(
        name="zone-a", provider_name="amphora", availability_zone_data=json.dumps({}))
    sdk.load_balancer.create_availability_zone(
        name="az1", availability_zone_profile_id=az_profile.id, description="first")
    assert sdk.load_balancer.get_availability_zone("az1").description == "first"
    sdk.load_balancer.update_availability_zone("az1", description="changed")
    assert [a.name for a in sdk.load_balancer.availability_zones()] == ["az1"]
    assert sdk.load_balancer.find_availability_zone_profile("zone-a").id == az_profile.id

    sdk.load_balancer.delete_load_balancer(lb)
    sdk.load_balancer.wait_for_delete(lb, interval=0.05, wait=15)
    sdk.load_balancer.delete_availability_zone("az1")
    sdk.load_balancer.delete_availability_zone_profile(az_profile)
    sdk.load_balancer.delete_flavor(flavor)
    sdk.load_balancer.delete_flavor_profile(profile)
    assert list(sdk.load_balancer.flavors()) == []
    assert list(sdk.load_balancer.availability_zone_profiles()) == []


def test_amphorae_and_failover(sdk: Any, portus: Portus) -> None:
    # The noop worker of these tests builds no amphorae.
    assert list(sdk.load_balancer.amphorae()) == []
    lb = wait(sdk, sdk.load_balancer.create_load_balancer(
        vip_subnet_id=portus.subnet.id, project_id=PROJECT).id)
    sdk.load_balancer.failover_load_balancer(lb.id)
    assert wait(sdk, lb.id).provisioning_status == "ACTIVE"


def test_batch_member_update_and_tag_filters(sdk: Any, portus: Portus) -> None:
    lb, _listener, pool = _lb_with_pool(sdk, portus)
    members = [{"address": "198.18.1.60", "protocol_port": 80, "tags": ["blue"]},
               {"address": "198.18.1.61", "protocol_port": 80, "tags": ["green"]}]
    response = sdk.load_balancer.put(f"/lbaas/pools/{pool.id}/members",
                                     json={"members": members})
    assert response.status_code == 202, response.text
    wait(sdk, lb.id)
    assert sorted(m.address for m in sdk.load_balancer.members(pool)) == ["198.18.1.60",
                                                                          "198.18.1.61"]
    assert [m.address for m in sdk.load_balancer.members(pool, tags=["blue"])] == [
        "198.18.1.60"]
    assert [m.address for m in sdk.load_balancer.members(pool, not_tags=["blue"])] == [
        "198.18.1.61"]
    sdk.load_balancer.update_load_balancer(lb, tags=["prod", "eu"])
    wait(sdk, lb.id)
    assert [x.id for x in sdk.load_balancer.load_balancers(tags=["prod", "eu"])] == [lb.id]
    assert [x.id for x in sdk.load_balancer.load_balancers(any_tags=["eu", "us"])] == [lb.id]
    assert list(sdk.load_balancer.load_balancers(tags=["prod", "us"])) == []


def test_sdk_lists_l7_rules(sdk: Any, portus: Portus) -> None:
    _lb, listener, _pool = _lb_with_pool(sdk, portus)
    policy = sdk.load_balancer.create_l7_policy(listener_id=listener.id, action="REJECT")
    wait(sdk, _lb.id)
    rule = sdk.load_balancer.create_l7_rule(policy, type="PATH", compare_type="EQUAL_TO",
                                            value="/x")
    wait(sdk, _lb.id)
    assert [r.id for r in sdk.load_balancer.l7_rules(policy)] == [rule.id]
