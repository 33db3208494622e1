"""Members on subnets other than the VIP subnet: the API accepts them and the amphora
manager gives each amphora a port (an address and a stably named interface) on each
such subnet, and takes it away when no member uses the subnet any more."""
from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path
import pytest
import sqlalchemy as sa

from portus.common import constants as C
from portus.common.config import SubnetConfig
from portus.controller.amphorae import AmphoraManager
from portus.db import models as m
from portus.drivers.certificates.local_ca import LocalCA
from portus.drivers.compute.base import MemberPlug
from portus.drivers.compute.noop import NoopCompute

from tests.functional.conftest import Api, assert_fault
from tests.functional.test_ipam import assert_consistent


class _Agents:
    """Every agent answers at once."""

    def info(self, amphora_id: str, ip: str, timeout: float | None = None) -> dict[str, str]:
        return {"amphora_id": amphora_id}

    def wait_ready(self, amphora_id: str, ip: str, timeout: float) -> None:
        return None


@pytest.fixture
def subnets(api: Api) -> Iterator[list[SubnetConfig]]:
    """Two more configured subnets ("backends-a", "backends-b")."""
    added = []
    for index, cidr in enumerate(("198.51.100.0/24", "203.0.113.0/24")):
        subnet = SubnetConfig(name=f"backends-{'ab'[index]}", cidr=cidr)
        subnet.finish(len(api.cfg.network.subnets) + index)
        added.append(subnet)
    api.cfg.network.subnets.extend(added)
    try:
        yield added
    finally:
        for subnet in added:
            api.cfg.network.subnets.remove(subnet)


@pytest.fixture
def manager(api: Api, tmp_path: Path) -> tuple[AmphoraManager, NoopCompute]:
    ca = LocalCA(tmp_path / "ca")
    ca.ensure()
    compute = NoopCompute()
    return AmphoraManager(api.cfg, api.db, compute, _Agents(),  # type: ignore[arg-type]
                          ca, "key"), compute


def _plugs(compute: NoopCompute) -> list[MemberPlug]:
    (built,) = compute.amphorae.values()
    return built.member_plugs


def _ports(api: Api) -> dict[str, tuple[int, str]]:
    port = m.AmphoraMemberPort
    with api.db.read() as session:
        return {r.subnet_id: (r.slot, r.ip_address) for r in session.scalars(sa.select(port))}


def test_a_member_on_another_configured_subnet_is_accepted(
        api: Api, subnets: list[SubnetConfig]) -> None:
    ids = api.tree(members=0)
    member = api.create_member(ids["pool"], address="198.51.100.7", subnet_id=subnets[0].id)
    assert member["subnet_id"] == subnets[0].id
    assert api.show("member", member["id"], ids["pool"])["provisioning_status"] == "ACTIVE"


def test_member_ports_follow_the_members(api: Api, subnets: list[SubnetConfig],
                                         manager: tuple[AmphoraManager, NoopCompute]) -> None:
    amphorae, compute = manager
    a, b = subnets
    ids = api.tree(members=1)  # its member is on no subnet: no port
    amphorae.ensure(ids["lb"])
    assert _plugs(compute) == [] and _ports(api) == {}

    top_a = str(ipaddress.ip_address(a.allocation_end))
    top_b = str(ipaddress.ip_address(b.allocation_end))
    on_a = api.create_member(ids["pool"], address="198.51.100.7", subnet_id=a.id)
    api.create_member(ids["pool"], address="198.51.100.8", subnet_id=a.id)
    api.create_member(ids["pool"], address="203.0.113.7", subnet_id=b.id)
    # A member on the VIP subnet needs no port: the VIP interface is on it.
    api.create_member(ids["pool"], address="198.18.1.99", subnet_id=api.subnet_id)
    amphorae.ensure(ids["lb"])
    slot = {subnet_id: port[0] for subnet_id, port in _ports(api).items()}
    assert sorted(slot.values()) == [0, 1]  # in the order of the subnet ids
    assert _ports(api) == {a.id: (slot[a.id], top_a), b.id: (slot[b.id], top_b)}
    assert _plugs(compute) == sorted([MemberPlug(slot[a.id], a.bridge, top_a, 24),
                                      MemberPlug(slot[b.id], b.bridge, top_b, 24)],
                                     key=lambda p: p.slot)

    # The port's address is in use: a VIP cannot take it.
    response = api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {
        "vip_subnet_id": a.id, "project_id": "p1", "vip_address": top_a}})
    assert_fault(response, 409, top_a)

    # While a member is left on subnet a, its port stays; the last one takes it away and
    # the port on b keeps its slot (its interface keeps its name).
    api.expect("DELETE", f"/v2/lbaas/pools/{ids['pool']}/members/{on_a['id']}", 204)
    api.settle()
    amphorae.ensure(ids["lb"])
    assert set(_ports(api)) == {a.id, b.id}
    for member in api.expect("GET", f"/v2/lbaas/pools/{ids['pool']}/members", 200)["members"]:
        if member["subnet_id"] == a.id:
            api.expect("DELETE", f"/v2/lbaas/pools/{ids['pool']}/members/{member['id']}", 204)
    api.settle()
    amphorae.ensure(ids["lb"])
    assert _ports(api) == {b.id: (slot[b.id], top_b)}
    assert _plugs(compute) == [MemberPlug(slot[b.id], b.bridge, top_b, 24)]

    # A new subnet takes the lowest free slot; the freed address is handed out again.
    api.create_member(ids["pool"], address="198.51.100.9", subnet_id=a.id)
    amphorae.ensure(ids["lb"])
    assert _ports(api) == {a.id: (1 - slot[b.id], top_a), b.id: (slot[b.id], top_b)}

    # A deleted pool's members need no port.
    api.expect("DELETE", f"/v2/lbaas/pools/{ids['pool']}", 204)
    api.settle()
    amphorae.ensure(ids["lb"])
    assert _ports(api) == {} and _plugs(compute) == []

    # Removing the amphora frees its ports.
    pool = api.create_pool(loadbalancer_id=ids["lb"])
    api.create_member(pool["id"], address="203.0.113.9", subnet_id=b.id)
    amphorae.ensure(ids["lb"])
    assert _ports(api) == {b.id: (0, top_b)}
    assert_consistent(api.db)
    amphorae.remove_all(ids["lb"])
    assert _ports(api) == {}
    assert_consistent(api.db)
    with api.db.read() as session:
        assert {a.status for a in session.scalars(sa.select(m.Amphora))} == {C.AMP_DELETED}


def test_a_member_subnet_the_controller_does_not_know_fails_the_pass(
        api: Api, subnets: list[SubnetConfig],
        manager: tuple[AmphoraManager, NoopCompute]) -> None:
    """The API checks the subnet; if the configuration later loses it, the pass fails
    with the reason instead of building an amphora that cannot reach the member."""
    from portus.controller.amphorae import AmphoraFailed

    amphorae, compute = manager
    ids = api.tree(members=0)
    api.create_member(ids["pool"], address="198.51.100.7", subnet_id=subnets[0].id)
    api.cfg.network.subnets.remove(subnets[0])
    try:
        with pytest.raises(AmphoraFailed, match=f"member subnet {subnets[0].id}"):
            amphorae.ensure(ids["lb"])
    finally:
        api.cfg.network.subnets.append(subnets[0])
    assert compute.amphorae == {}

