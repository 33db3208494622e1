"""/v2/lbaas/providers and the provider a load balancer is built by."""
from __future__ import annotations

from tests.functional.conftest import Api, assert_fault

P = "/v2/lbaas/providers"


def test_list_comes_from_the_configuration(api: Api) -> None:
    body = api.expect("GET", P, 200)
    names = [p["name"] for p in body["providers"]]
    assert names == ["amphora", "octavia", "noop"]
    assert all(set(p) == {"name", "description"} and p["description"] for p in body["providers"])
    assert api.expect("GET", f"{P}?fields=name", 200)["providers"][0] == {"name": "amphora"}


def test_flavor_capabilities(api: Api) -> None:
    caps = api.expect("GET", f"{P}/amphora/flavor_capabilities", 200)["flavor_capabilities"]
    assert [c["name"] for c in caps] == ["loadbalancer_topology", "compute_flavor",
                                         "amp_image_tag", "sriov_vip", "allow_member_sriov"]
    assert api.expect("GET", f"{P}/octavia/flavor_capabilities", 200)["flavor_capabilities"] == caps
    one = api.expect("GET", f"{P}/amphora/flavor_capabilities?name=compute_flavor", 200)
    assert one["flavor_capabilities"] == [c for c in caps if c["name"] == "compute_flavor"]
    by_description = api.expect("GET", f"{P}/amphora/flavor_capabilities", 200,
                                params={"description": caps[2]["description"]})
    assert [c["name"] for c in by_description["flavor_capabilities"]] == ["amp_image_tag"]
    assert api.expect("GET", f"{P}/noop/flavor_capabilities", 200)["flavor_capabilities"]


def test_availability_zone_capabilities(api: Api) -> None:
    caps = api.expect("GET", f"{P}/amphora/availability_zone_capabilities", 200)[
        "availability_zone_capabilities"]
    assert [c["name"] for c in caps] == ["compute_zone", "volume_zone", "management_network",
                                         "valid_vip_networks"]
    two = api.expect("GET", f"{P}/amphora/availability_zone_capabilities"
                            f"?name=compute_zone&name=volume_zone", 200)
    assert len(two["availability_zone_capabilities"]) == 2


def test_unknown_provider_is_400(api: Api) -> None:
    for what in ("flavor_capabilities", "availability_zone_capabilities"):
        assert_fault(api.get(f"{P}/bogus/{what}"), 400, "Provider 'bogus' is not enabled.")


def test_load_balancer_provider(api: Api) -> None:
    assert api.create_lb()["provider"] == "amphora"
    assert api.create_lb(provider="noop")["provider"] == "noop"
    assert api.create_lb(provider="octavia")["provider"] == "amphora"  # the alias
    response = api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {
        "vip_subnet_id": api.subnet_id, "project_id": "p1", "provider": "bogus"}})
    assert_fault(response, 400, "Provider 'bogus' is not enabled.")
    rows = api.expect("GET", "/v2/lbaas/loadbalancers?provider=noop", 200)["loadbalancers"]
    assert [lb["provider"] for lb in rows] == ["noop"]


def test_disabled_provider(api: Api) -> None:
    enabled = api.cfg.api.enabled_provider_drivers
    saved = dict(enabled)
    del enabled["noop"]
    try:
        assert_fault(api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {
            "vip_subnet_id": api.subnet_id, "project_id": "p1", "provider": "noop"}}), 400,
            "not enabled")
        assert [p["name"] for p in api.expect("GET", P, 200)["providers"]] == [
            "amphora", "octavia"]
    finally:
        enabled.clear()
        enabled.update(saved)


def test_amphora_provider_refuses_source_ip_port(api: Api) -> None:
    lb = api.create_lb()
    response = api.post("/v2/lbaas/pools", json={"pool": {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "SOURCE_IP_PORT"}})
    assert_fault(response, 501, "SOURCE_IP_PORT")
    pool = api.create_pool(loadbalancer_id=lb["id"])
    assert_fault(api.put(f"/v2/lbaas/pools/{pool['id']}", json={"pool": {
        "lb_algorithm": "SOURCE_IP_PORT"}}), 501, "SOURCE_IP_PORT")
    body = {"vip_subnet_id": api.subnet_id, "project_id": "p1", "listeners": [{
        "protocol": "HTTP", "protocol_port": 80, "default_pool": {
            "name": "p", "protocol": "HTTP", "lb_algorithm": "SOURCE_IP_PORT"}}]}
    assert_fault(api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body}), 501)
    # The noop provider takes it.
    body["provider"] = "noop"
    api.expect("POST", "/v2/lbaas/loadbalancers", 201, {"loadbalancer": body})
