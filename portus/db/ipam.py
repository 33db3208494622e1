"""Address allocation from the subnets declared in configuration.

As in Neutron's IPAM, one table holds every address in use on a configured subnet:
`ip_allocation`, keyed by (subnet, address), with the kind and id of what holds it.
A holder inserts its row in the transaction that stores the address (a VIP or an
additional VIP with its load balancer, a VRRP address with its amphora, a member port
with its row) and the transaction that frees the address deletes it (`release`).

Two transactions that pick the same address both insert the same key: the primary key
lets one of them have it, on every database (the other waits for the first to end
where the database locks, then fails). The loser's insert ran in a savepoint, so it
tries the next free address, a bounded number of times. VIPs are taken from the bottom
of the allocation range and amphora addresses from the top, so they meet only when the
range is nearly full. What is in use is one indexed query on this table.
"""
from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any, NamedTuple

from sqlalchemy import CompoundSelect, String, delete, insert, literal, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portus.common import constants as C
from portus.common.config import ManagementConfig, SubnetConfig
from portus.db import models as m

# What holds an address; the owner id is the load balancer's or the amphora's.
OWNER_VIP = "vip"  # the load balancer's VIP
OWNER_ADDITIONAL_VIP = "additional_vip"  # the load balancer's VIP on another subnet
OWNER_VRRP = "vrrp"  # an amphora of an ACTIVE_STANDBY pair (a STANDALONE one has the VIP)
OWNER_MEMBER_PORT = "member_port"  # an amphora's port on a member subnet
OWNER_KINDS = (OWNER_VIP, OWNER_ADDITIONAL_VIP, OWNER_VRRP, OWNER_MEMBER_PORT)
AMPHORA_KINDS = (OWNER_VRRP, OWNER_MEMBER_PORT)  # taken from the top of the range

# Inserts that may lose a race before the allocation gives up (each loss means another
# transaction took an address meanwhile).
ATTEMPTS = 16

_A = m.IpAllocation


class AddressUnavailable(Exception):
    pass


class Allocation(NamedTuple):
    subnet_id: str
    ip_address: str
    owner_kind: str
    owner_id: str


@functools.lru_cache(maxsize=1 << 17)
def _as_int(text: str) -> int:
    # Every allocation converts every address in use: remembered, an address costs a
    # lookup (many times cheaper than inet_pton, itself cheaper than ipaddress).
    family = socket.AF_INET6 if ":" in text else socket.AF_INET
    return int.from_bytes(socket.inet_pton(family, text), "big")


def _pick(start: ipaddress._BaseAddress, end: ipaddress._BaseAddress, used: Iterable[str],
          highest: bool = False) -> str:
    """The lowest (or highest) address in [start, end] not in ``used``."""
    taken = {_as_int(a) for a in used}
    values = range(int(start), int(end) + 1)
    for value in reversed(values) if highest else values:
        if value not in taken:
            return str(ipaddress.ip_address(value))
    raise AddressUnavailable(f"no free address between {start} and {end}")


def in_use(session: Session, subnet_id: str) -> list[str]:
    """The addresses held on the subnet: one query on the primary key's index, as Core
    (plain strings, without the ORM's per-row result processing)."""
    return list(session.connection().execute(
        select(_A.ip_address).where(_A.subnet_id == subnet_id)).scalars())


def _claim(session: Session, subnet_id: str, address: str, kind: str, owner_id: str) -> bool:
    """Insert the allocation row; False if another transaction holds the address."""
    try:
        with session.begin_nested():  # a lost race undoes this insert only
            session.execute(insert(_A).values(subnet_id=subnet_id, ip_address=address,
                                                  owner_kind=kind, owner_id=owner_id))
    except IntegrityError:
        return False
    return True


def allocate(session: Session, subnet: SubnetConfig, kind: str, owner_id: str,
             requested: str | None = None) -> str:
    """Allocate ``requested``, or a free address of the subnet's allocation range (the
    lowest for a VIP, the highest for an amphora's own), to the owner, in the session's
    transaction: the owner's once it commits, free again if it rolls back.
    Raises AddressUnavailable."""
    if requested:
        if ipaddress.ip_address(requested) not in subnet.network:
            raise AddressUnavailable(f"{requested} is not in subnet {subnet.id} ({subnet.cidr})")
        if (_as_int(requested) == _as_int(subnet.gateway)
                or not _claim(session, subnet.id, requested, kind, owner_id)):
            raise AddressUnavailable(f"IP address {requested} already allocated in subnet {subnet.id}")
        return requested
    start = ipaddress.ip_address(subnet.allocation_start)
    end = ipaddress.ip_address(subnet.allocation_end)
    highest = kind in AMPHORA_KINDS
    lost: list[str] = []
    for _ in range(ATTEMPTS):
        # Read again after a lost race: it shows what the winners committed meanwhile.
        address = _pick(start, end, [*in_use(session, subnet.id), subnet.gateway, *lost],
                        highest)
        if _claim(session, subnet.id, address, kind, owner_id):
            return address
        lost.append(address)
    raise AddressUnavailable(f"no address could be allocated in subnet {subnet.id} in "
                             f"{ATTEMPTS} attempts")


def release(session: Session, owner_ids: Iterable[str], kinds: Iterable[str] = OWNER_KINDS,
            subnet_id: str | None = None) -> None:
    """Free the addresses these owners hold (of these kinds; on this subnet only, if
    given), in the transaction that frees their holders."""
    statement = delete(_A).where(_A.owner_id.in_(list(owner_ids)),
                                 _A.owner_kind.in_(list(kinds)))
    if subnet_id is not None:
        statement = statement.where(_A.subnet_id == subnet_id)
    session.execute(statement.execution_options(synchronize_session=False))


def _held() -> CompoundSelect:
    """(subnet, address, kind, owner) of every address stored by its holder's row."""
    vip, extra, amp, port = m.Vip, m.AdditionalVip, m.Amphora, m.AmphoraMemberPort

    def kind(name: str) -> Any:
        return literal(name, String(16))
    return union_all(
        select(vip.subnet_id, vip.ip_address, kind(OWNER_VIP), vip.load_balancer_id)
        .where(vip.ip_address.is_not(None)),
        select(extra.subnet_id, extra.ip_address, kind(OWNER_ADDITIONAL_VIP),
               extra.load_balancer_id).where(extra.ip_address.is_not(None)),
        select(vip.subnet_id, amp.vrrp_ip, kind(OWNER_VRRP), amp.id)
        .join(vip, vip.load_balancer_id == amp.load_balancer_id)
        .where(amp.vrrp_ip.is_not(None), amp.status != C.AMP_DELETED,
               amp.role.in_((C.ROLE_MASTER, C.ROLE_BACKUP))),
        select(port.subnet_id, port.ip_address, kind(OWNER_MEMBER_PORT), port.amphora_id))


def audit(session: Session) -> tuple[set[Allocation], set[Allocation]]:
    """What disagrees between the holders and the table: the addresses holders store
    without their allocation row, and the rows no holder stores."""
    held = {Allocation(*r) for r in session.execute(_held())}
    recorded = {Allocation(*r) for r in session.execute(
        select(_A.subnet_id, _A.ip_address, _A.owner_kind, _A.owner_id))}
    return held - recorded, recorded - held


def allocate_management_ip(session: Session, mgmt: ManagementConfig) -> str:
    net = ipaddress.ip_network(mgmt.cidr)
    used = {r for r in session.execute(select(m.Amphora.lb_network_ip)
                                       .where(m.Amphora.lb_network_ip.is_not(None))).scalars() if r}
    return _pick(net.network_address + 2, net.broadcast_address - 1, used | {mgmt.gateway})
