"""Address allocation (portus/db/ipam.py) on every database: concurrent transactions that
pick the same address, a VIP and an amphora address competing for the last free one,
and the release of addresses with what held them."""
from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from portus.common import constants as C
from portus.common.config import SubnetConfig
from portus.controller.amphorae import AmphoraManager
from portus.controller.housekeeping import HouseKeeping
from portus.db import ipam, models as m
from portus.db.session import Database
from portus.drivers.certificates.local_ca import LocalCA
from portus.drivers.compute.noop import NoopCompute

from tests.functional.conftest import Api, assert_fault
from tests.functional.test_flavors import create_flavor, create_profile

LBS = "/v2/lbaas/loadbalancers"


@pytest.fixture
def tiny(api: Api) -> Iterator[SubnetConfig]:
    """A configured subnet whose allocation range is two addresses, .10 and .11."""
    subnet = SubnetConfig(name="tiny", cidr="100.64.0.0/27", allocation_start="100.64.0.10",
                          allocation_end="100.64.0.11")
    subnet.finish(len(api.cfg.network.subnets))
    api.cfg.network.subnets.append(subnet)
    try:
        yield subnet
    finally:
        api.cfg.network.subnets.remove(subnet)


def rows(db: Database) -> set[tuple[str, str, str, str]]:
    with db.read() as session:
        return {tuple(r) for r in session.execute(  # type: ignore[misc]
            sa.select(m.IpAllocation.subnet_id, m.IpAllocation.ip_address,
                      m.IpAllocation.owner_kind, m.IpAllocation.owner_id))}


def assert_consistent(db: Database) -> None:
    """Every address a holder stores has its row, and every row its holder."""
    with db.read() as session:
        assert ipam.audit(session) == (set(), set())


def lock_waits(db: Database) -> int:
    """Transactions of this database waiting for a row lock."""
    with db.engine.connect() as conn:
        if db.engine.dialect.name == "postgresql":
            return int(conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'").scalar_one())
        return int(conn.exec_driver_sql(
            "SELECT count(*) FROM information_schema.innodb_trx t "
            "JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id "
            "WHERE t.trx_state = 'LOCK WAIT' AND p.db = DATABASE()").scalar_one())


def until_blocked(db: Database) -> None:
    """Until a second transaction waits for the first: on PostgreSQL and MariaDB its
    insert of the same key waits for the row lock; SQLite lets one writer in at a time,
    so there it waits at BEGIN (not observable: give it a moment)."""
    if db.engine.dialect.name == "sqlite":
        time.sleep(0.2)
        return
    deadline = time.monotonic() + 20
    while lock_waits(db) == 0:
        assert time.monotonic() < deadline, "the second transaction never waited"
        # MariaDB refreshes information_schema.innodb_trx only when it has not been
        # read for 0.1 s.
        time.sleep(0.15)


def race(db: Database, first: Callable[[Any], Any], second: Callable[[], Any]
         ) -> tuple[Future[Any], Future[Any]]:
    """Run first(session) in a transaction left open until second() (on another thread,
    in its own transaction) waits for it; then commit the first and let second finish."""
    holding, done = threading.Event(), threading.Event()

    def run_first() -> Any:
        with db.write() as session:
            out = first(session)
            holding.set()
            assert done.wait(30)
        return out

    with ThreadPoolExecutor(2) as pool:
        one = pool.submit(run_first)
        assert holding.wait(30), "the first transaction did not start"
        two = pool.submit(second)
        try:
            until_blocked(db)
        finally:
            done.set()
        one.exception(timeout=30)
        two.exception(timeout=30)
    return one, two


@pytest.fixture
def lost(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The addresses whose insert lost a race."""
    out: list[str] = []
    claim = ipam._claim

    def counting(session: Any, subnet_id: str, address: str, kind: str, owner_id: str) -> bool:
        won = claim(session, subnet_id, address, kind, owner_id)
        if not won:
            out.append(address)
        return won
    monkeypatch.setattr(ipam, "_claim", counting)
    return out


def test_two_transactions_that_pick_one_address_get_two(api: Api, tiny: SubnetConfig,
                                                        lost: list[str]) -> None:
    def second() -> str:
        with api.db.write() as session:
            return ipam.allocate(session, tiny, ipam.OWNER_VIP, "lb-2")

    one, two = race(api.db, lambda session: ipam.allocate(session, tiny, ipam.OWNER_VIP,
                                                           "lb-1"), second)
    assert (one.result(), two.result()) == ("100.64.0.10", "100.64.0.11")
    # On PostgreSQL and MariaDB the second read before the first committed, picked the
    # same address and lost the insert; SQLite had it wait before it read.
    assert lost == ([] if api.backend == "sqlite" else ["100.64.0.10"])
    assert rows(api.db) == {(tiny.id, "100.64.0.10", "vip", "lb-1"),
                            (tiny.id, "100.64.0.11", "vip", "lb-2")}


@pytest.mark.parametrize("winner, loser", [(ipam.OWNER_VRRP, ipam.OWNER_VIP),
                                           (ipam.OWNER_VIP, ipam.OWNER_VRRP)])
def test_vip_and_amphora_address_compete_for_the_last_one(api: Api, tiny: SubnetConfig,
                                                          winner: str, loser: str) -> None:
    """VIPs come from the bottom, amphora addresses from the top: with one address
    left both pick it, and exactly one gets it."""
    with api.db.write() as session:
        ipam.allocate(session, tiny, ipam.OWNER_VIP, "lb-0")

    def second() -> str:
        with api.db.write() as session:
            return ipam.allocate(session, tiny, loser, "late")

    one, two = race(api.db, lambda session: ipam.allocate(session, tiny, winner, "early"),
                    second)
    assert one.result() == "100.64.0.11"
    with pytest.raises(ipam.AddressUnavailable, match="no free address"):
        two.result()
    assert rows(api.db) == {(tiny.id, "100.64.0.10", "vip", "lb-0"),
                            (tiny.id, "100.64.0.11", winner, "early")}


def test_api_vip_loses_the_last_address_to_an_amphora(api: Api, tiny: SubnetConfig) -> None:
    """The worker's transaction holds the last address for an amphora: a load balancer
    created meanwhile is refused once that commits (it no longer gets the same address)."""
    api.create_lb(vip_subnet_id=tiny.id)

    def create() -> Any:
        return api.post(LBS, json={"loadbalancer": {"vip_subnet_id": tiny.id,
                                                    "project_id": "p1"}})

    one, two = race(api.db, lambda session: ipam.allocate(session, tiny, ipam.OWNER_VRRP,
                                                           "amp"), create)
    assert one.result() == "100.64.0.11"
    assert_fault(two.result(), 409, f"No VIP address available in subnet {tiny.id}")
    assert rows(api.db) >= {(tiny.id, "100.64.0.11", "vrrp", "amp")}


@pytest.fixture
def manager(api: Api, tmp_path: Path) -> AmphoraManager:
    ca = LocalCA(tmp_path / "ca")
    ca.ensure()

    class Agents:
        def info(self, amphora_id: str, ip: str, timeout: float | None = None) -> dict[str, str]:
            return {"amphora_id": amphora_id}

        def wait_ready(self, amphora_id: str, ip: str, timeout: float) -> None:
            return None
    return AmphoraManager(api.cfg, api.db, NoopCompute(), Agents(),  # type: ignore[arg-type]
                          ca, "key")


def pair_lb(api: Api, subnet: SubnetConfig) -> dict[str, Any]:
    flavor = create_flavor(api, create_profile(
        api, {"loadbalancer_topology": "ACTIVE_STANDBY"})["id"])
    return api.create_lb(flavor_id=flavor["id"], vip_subnet_id=subnet.id)


def test_worker_amphora_loses_the_last_address_to_a_vip(api: Api, tiny: SubnetConfig,
                                                        manager: AmphoraManager) -> None:
    """The API's transaction holds the last address for a VIP: the pair's MASTER built
    meanwhile does not get it (the pass fails; no amphora row is left)."""
    lb = pair_lb(api, tiny)

    def build() -> Any:
        return manager.ensure(lb["id"])

    one, two = race(api.db, lambda session: ipam.allocate(session, tiny, ipam.OWNER_VIP,
                                                           "lb-late"), build)
    assert one.result() == "100.64.0.11"
    with pytest.raises(ipam.AddressUnavailable):
        two.result()
    with api.db.read() as session:
        assert session.scalars(sa.select(m.Amphora)).all() == []
    assert rows(api.db) == {(tiny.id, "100.64.0.10", "vip", lb["id"]),
                            (tiny.id, "100.64.0.11", "vip", "lb-late")}


def test_a_rolled_back_allocation_leaves_the_address_free(api: Api, tiny: SubnetConfig) -> None:
    with pytest.raises(RuntimeError):
        with api.db.write() as session:
            assert ipam.allocate(session, tiny, ipam.OWNER_VIP, "lb") == "100.64.0.10"
            raise RuntimeError("the request failed later")
    assert rows(api.db) == set()
    with api.db.write() as session:
        assert ipam.allocate(session, tiny, ipam.OWNER_VIP, "lb") == "100.64.0.10"


def test_allocation_gives_up_after_a_bounded_number_of_lost_races(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    tried: list[str] = []

    def always_lost(session: Any, subnet_id: str, address: str, kind: str,
                    owner_id: str) -> bool:
        tried.append(address)
        return False
    monkeypatch.setattr(ipam, "_claim", always_lost)
    subnet = api.cfg.network.subnets[0]
    with api.db.write() as session:
        with pytest.raises(ipam.AddressUnavailable, match=f"in {ipam.ATTEMPTS} attempts"):
            ipam.allocate(session, subnet, ipam.OWNER_VRRP, "amp")
    top = ipaddress.ip_address(subnet.allocation_end)
    assert tried == [str(top - i) for i in range(ipam.ATTEMPTS)]  # the next one each time


def test_requested_addresses_answer_as_before(api: Api, tiny: SubnetConfig) -> None:
    lb = api.create_lb(vip_subnet_id=tiny.id, vip_address="100.64.0.20")  # outside the range
    assert lb["vip_address"] == "100.64.0.20"
    for taken in ("100.64.0.20", tiny.gateway):
        response = api.post(LBS, json={"loadbalancer": {
            "vip_subnet_id": tiny.id, "project_id": "p1", "vip_address": taken}})
        assert_fault(response, 409, f"IP address {taken} already allocated in subnet {tiny.id}")
    assert rows(api.db) == {(tiny.id, "100.64.0.20", "vip", lb["id"])}


def test_addresses_go_with_their_holders(api: Api, tiny: SubnetConfig,
                                         manager: AmphoraManager) -> None:
    """A deleted load balancer frees its VIP and additional VIPs; a removed amphora its
    VRRP address and member ports; each in the transaction that frees the holder."""
    default = api.cfg.network.subnets[0]
    lb = api.create_lb(additional_vips=[{"subnet_id": tiny.id}])
    assert rows(api.db) == {(default.id, lb["vip_address"], "vip", lb["id"]),
                            (tiny.id, "100.64.0.10", "additional_vip", lb["id"])}
    api.expect("DELETE", f"{LBS}/{lb['id']}", 204)
    api.converge(lb["id"])
    assert rows(api.db) == set()

    pair = pair_lb(api, default)
    plan = manager.ensure(pair["id"])
    top = ipaddress.ip_address(default.allocation_end)
    master, backup = plan.serving
    assert rows(api.db) == {(default.id, pair["vip_address"], "vip", pair["id"]),
                            (default.id, str(top), "vrrp", master.id),
                            (default.id, str(top - 1), "vrrp", backup.id)}
    pool = api.create_pool(loadbalancer_id=pair["id"])
    api.create_member(pool["id"], address="100.64.0.25", subnet_id=tiny.id)
    manager.ensure(pair["id"])
    assert rows(api.db) >= {(tiny.id, "100.64.0.11", "member_port", master.id),
                            (tiny.id, "100.64.0.10", "member_port", backup.id)}
    assert_consistent(api.db)

    manager.remove(master)
    assert {r[3] for r in rows(api.db)} == {pair["id"], backup.id}
    assert_consistent(api.db)

    # Deleted through the API after its load balancer went: housekeeping removes it.
    with api.db.write() as session:
        session.execute(sa.update(m.Amphora).where(m.Amphora.id == backup.id)
                        .values(status=C.AMP_PENDING_DELETE))
        session.execute(sa.update(m.LoadBalancer).where(m.LoadBalancer.id == pair["id"])
                        .values(provisioning_status=C.PENDING_DELETE))
    api.converge(pair["id"])
    assert HouseKeeping(api.cfg, api.db, NoopCompute()).remove_deleted_amphorae() == [backup.id]
    assert rows(api.db) == set()
    with api.db.read() as session:
        assert session.scalars(sa.select(m.AmphoraMemberPort)).all() == []
    assert_consistent(api.db)
