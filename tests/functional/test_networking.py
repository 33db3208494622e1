"""The networking (Neutron) answers for load balancers' VIP ports.

Octavia creates a load balancer's VIP port in Neutron; Terraform's OpenStack provider
(gophercloud) reads the port named by `vip_port_id` from the networking service after
every read of a load balancer, and fails when it cannot. portus serves those ports.
"""
from __future__ import annotations

import uuid

from portus.common.config import SubnetConfig
from tests.functional.auth_helpers import (  # noqa: F401  (fixtures)
    TokenApi, _token_session, token_api)
from tests.functional.conftest import Api, assert_fault

NET = "/networking/v2.0"
LBS = "/v2/lbaas/loadbalancers"


def test_vip_port_show_and_list(api: Api) -> None:
    lb = api.create_lb(name="web")
    port = api.expect("GET", f"{NET}/ports/{lb['vip_port_id']}", 200)["port"]
    assert port["id"] == lb["vip_port_id"] and port["name"] == f"octavia-lb-{lb['id']}"
    assert port["fixed_ips"] == [{"subnet_id": lb["vip_subnet_id"],
                                  "ip_address": lb["vip_address"]}]
    assert port["network_id"] == lb["vip_network_id"]
    assert port["device_id"] == f"lb-{lb['id']}" and port["device_owner"] == "Octavia"
    assert port["project_id"] == port["tenant_id"] == "p1"
    # What Terraform sets its security_group_ids from: there are none on this network.
    assert port["security_groups"] == [] and port["admin_state_up"] is False
    assert port["mac_address"].startswith("fa:16:3e:")
    # The same through the single endpoint (/v2), as the CLI finds it.
    assert api.expect("GET", f"/v2/ports/{lb['vip_port_id']}", 200)["port"] == port
    assert api.expect("GET", f"{NET}/ports", 200)["ports"] == [port]
    assert api.expect("GET", f"{NET}/ports/{lb['vip_port_id']}?fields=id&fields=status",
                      200)["port"] == {"id": port["id"], "status": "DOWN"}
    assert_fault(api.get(f"{NET}/ports/{uuid.uuid4()}"), 404, "Port")


def test_port_filters(api: Api) -> None:
    a, b = api.create_lb(name="a"), api.create_lb(name="b")

    def listed(query: str) -> list[str]:
        return [p["id"] for p in api.expect("GET", f"{NET}/ports?{query}", 200)["ports"]]

    assert listed(f"device_id=lb-{a['id']}") == [a["vip_port_id"]]
    assert listed(f"fixed_ips=ip_address={b['vip_address']}") == [b["vip_port_id"]]
    assert sorted(listed(f"fixed_ips=subnet_id={a['vip_subnet_id']}")) == sorted(
        [a["vip_port_id"], b["vip_port_id"]])
    assert listed(f"fixed_ips=subnet_id={a['vip_subnet_id']}"
                  f"&fixed_ips=ip_address={a['vip_address']}") == [a["vip_port_id"]]
    assert listed(f"fixed_ips=subnet_id={uuid.uuid4()}"
                  f"&fixed_ips=ip_address={a['vip_address']}") == []
    assert listed(f"id={b['vip_port_id']}&device_owner=Octavia") == [b["vip_port_id"]]
    assert sorted(listed(f"network_id={a['vip_network_id']}")) == sorted(
        [a["vip_port_id"], b["vip_port_id"]])


def test_deleted_load_balancers_have_no_port(api: Api) -> None:
    lb = api.create_lb()
    api.expect("DELETE", f"{LBS}/{lb['id']}", 204)
    api.converge(lb["id"])
    assert_fault(api.get(f"{NET}/ports/{lb['vip_port_id']}"), 404)
    assert api.expect("GET", f"{NET}/ports", 200)["ports"] == []


def test_additional_vips_have_ports(api: Api, second: SubnetConfig) -> None:
    lb = api.create_lb(additional_vips=[{"subnet_id": second.id}])
    [extra] = lb["additional_vips"]
    port = api.expect("GET", f"{NET}/ports/{extra['port_id']}", 200)["port"]
    assert port["fixed_ips"] == [{"subnet_id": second.id, "ip_address": extra["ip_address"]}]
    assert port["device_id"] == f"lb-{lb['id']}"
    assert sorted(p["id"] for p in api.expect(
        "GET", f"{NET}/ports?device_id=lb-{lb['id']}", 200)["ports"]) == sorted(
        [lb["vip_port_id"], extra["port_id"]])


def test_ports_of_other_projects_are_hidden(token_api: TokenApi) -> None:
    mine = token_api.create_lb(project_id="p1")
    theirs = token_api.create_lb(project_id="p2")
    as_p1 = token_api.as_("member")
    assert [p["id"] for p in token_api.expect("GET", f"{NET}/ports", 200, headers=as_p1)[
        "ports"]] == [mine["vip_port_id"]]
    assert_fault(token_api.get(f"{NET}/ports/{theirs['vip_port_id']}", headers=as_p1), 404)
    everything = token_api.expect("GET", f"{NET}/ports", 200)["ports"]  # the admin
    assert sorted(p["id"] for p in everything) == sorted(
        [mine["vip_port_id"], theirs["vip_port_id"]])
