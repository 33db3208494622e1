"""A member on a subnet the amphora has no VIP on: the amphora gets a port there, traffic
reaches the member through it, and the port goes when its last member does."""
from __future__ import annotations

import collections
import ipaddress
import json

import openstack
import pytest

from portus.drivers import ipcmd

from tests.e2e.harness import PortusLab, create_http_lb, wait_active, wait_for

pytestmark = pytest.mark.e2e


def _spread(lab: PortusLab, vip: str, n: int = 20) -> collections.Counter[str]:
    return collections.Counter(lab.get(vip) or "error" for _ in range(n))


def _member_port_addresses(lab: PortusLab) -> dict[str, list[str]]:
    """Interface -> IPv4 addresses of the amphora's member ports (mbr*)."""
    (namespace,) = lab.amphora_namespaces()
    links = json.loads(ipcmd.run(["-j", "-4", "addr", "show"], netns=namespace))
    return {link["ifname"]: [a["local"] for a in link.get("addr_info", [])]
            for link in links if link["ifname"].startswith("mbr")}


def test_member_on_another_subnet(lab: PortusLab, sdk: openstack.connection.Connection) -> None:
    near = lab.backend("near", 0)
    far = lab.backend("far", 0, subnet=lab.backend_subnet)
    lb = create_http_lb(sdk, lab, [near], name="e2e-subnets")
    wait_active(sdk, lb.id)
    vip = lb.vip_address
    pool = next(sdk.load_balancer.pools(loadbalancer_id=lb.id))
    assert _member_port_addresses(lab) == {}
    assert _spread(lab, vip) == {"hello from near": 20}

    member = sdk.load_balancer.create_member(
        pool.id, name="far", address=far.address, protocol_port=far.port,
        subnet_id=lab.backend_subnet.id)
    wait_active(sdk, lb.id)
    ports = _member_port_addresses(lab)
    assert list(ports) == ["mbr0"] and len(ports["mbr0"]) == 1
    assert ipaddress.ip_address(ports["mbr0"][0]) in lab.backend_subnet.network
    assert _spread(lab, vip) == {"hello from near": 10, "hello from far": 10}

    # A replacement amphora gets the port too.
    sdk.load_balancer.failover_load_balancer(lb.id)
    wait_for("the failover done", lambda: len(lab.amphora_namespaces()) == 1
             and sdk.load_balancer.get_load_balancer(lb.id).provisioning_status == "ACTIVE",
             60, 0.1)
    assert list(_member_port_addresses(lab)) == ["mbr0"]
    assert _spread(lab, vip) == {"hello from near": 10, "hello from far": 10}

    # The last member on the subnet goes: so does the port, inside and on the bridge.
    sdk.load_balancer.delete_member(member.id, pool.id)
    wait_active(sdk, lb.id)
    assert _member_port_addresses(lab) == {}
    assert lab.bridge_ports(lab.backend_subnet.bridge) == [far.host_ifname]
    assert _spread(lab, vip) == {"hello from near": 20}
