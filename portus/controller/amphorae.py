"""Make sure a load balancer has its working amphorae, and remove amphorae.

SINGLE: one STANDALONE amphora whose VIP interface holds the VIP itself; a failed
one is removed before its replacement is built (the address moves).
ACTIVE_STANDBY: a MASTER and a BACKUP, each with its own VRRP address on the VIP
subnet; keepalived holds the VIP on one of them. Failed amphorae are replaced one
per pass: the replacement is built while the other amphora serves, then the failed
one is removed (its keepalived hands the VIP over if it still held it), then both
serving amphorae get their configuration.

Every step is idempotent: a controller killed at any line leaves an amphora row
(written before anything is built) that the next attempt finishes or removes.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portus.common import constants as C
from portus.common.config import Config, SubnetConfig
from portus.controller.flavors import amphora_resources, haproxy_binary
from portus.db import ipam, models as m, status
from portus.db.session import Database
from portus.drivers.amphora.rest_client import AgentClient, AgentError, AgentUnreachable
from portus.drivers.certificates.local_ca import LocalCA
from portus.drivers.compute.base import (AmphoraBuild, ComputeDriver, MemberPlug, VipPlug,
                                         vip_ifname)
from portus.drivers.ipcmd import MAX_MEMBER_PLUGS

LOG = logging.getLogger(__name__)


class AmphoraFailed(Exception):
    pass


_LIVE = (C.AMP_BOOTING, C.AMP_ALLOCATED)
_FAILED = (C.AMP_ERROR, C.AMP_PENDING_DELETE)
# An amphora that the failover marked ERROR but that still answers keeps serving
# while its partner is replaced; asking it must not hold the pass up for long.
_ANSWER_TIMEOUT = 2.0
VRRP_INTERFACE = vip_ifname(0)
# Adverts are unicast between the two amphorae of a pair, so every pair can use the
# same virtual router id (as Octavia does).
VRRP_ID = 1


@dataclass
class Pass:
    """What one convergence pass works with."""
    serving: list[m.Amphora]  # configure these (MASTER first)
    victims: list[m.Amphora] = field(default_factory=list)  # remove before configuring serving
    complete: bool = True  # False: a failed amphora still serves; another pass follows


class AmphoraManager:
    def __init__(self, cfg: Config, db: Database, compute: ComputeDriver, agents: AgentClient,
                 ca: LocalCA, heartbeat_key: str) -> None:
        self.cfg = cfg
        self.db = db
        self.compute = compute
        self.agents = agents
        self.ca = ca
        self.heartbeat_key = heartbeat_key

    def base_dir(self, amphora_id: str) -> str:
        return str(Path(self.cfg.run_dir) / "amphorae" / amphora_id)

    def certs_dir(self, amphora_id: str) -> str:
        return str(Path(self.cfg.amphora.secrets_dir) / amphora_id)

    def namespace(self, amphora_id: str) -> str:
        return self.cfg.amphora.namespace_prefix + amphora_id

    # -- ensure --------------------------------------------------------------------
    def ensure(self, lb_id: str) -> Pass:
        """The load balancer's ready (ALLOCATED, agent answering) amphorae."""
        with self.db.read() as session:
            lb = session.get(m.LoadBalancer, lb_id)
            assert lb is not None
            topology = lb.topology
        if topology != C.TOPOLOGY_ACTIVE_STANDBY:
            self.remove_failed(lb_id)
            amp = self._row_for(lb_id)
            self._ready(amp, lb_id)
            return Pass([amp])
        plan = self._pair(lb_id)
        for amp in plan.serving:
            if amp.status in _LIVE:
                self._ready(amp, lb_id)
        return plan

    def _ready(self, amp: m.Amphora, lb_id: str) -> None:
        spec = self._network_spec(amp, lb_id, self._member_ports(amp, lb_id))
        if amp.status == C.AMP_ALLOCATED and self.compute.exists(spec.namespace):
            try:
                self.agents.info(amp.id, amp.lb_network_ip or "")
            except (AgentUnreachable, AgentError) as exc:
                LOG.warning("amphora %s does not answer (%s); rebuilding its agent", amp.id, exc)
            else:
                # Member subnets come and go with members: plug before the configuration
                # that uses them is pushed.
                self.compute.ensure_plugs(spec)
                return
        self._build(amp, lb_id, spec)

    def _row_for(self, lb_id: str) -> m.Amphora:
        with self.db.write() as session:
            amp = session.execute(select(m.Amphora).where(
                m.Amphora.load_balancer_id == lb_id,
                m.Amphora.status.in_(_LIVE))).scalars().first()
            if amp is not None:
                return amp
            lb = session.get(m.LoadBalancer, lb_id)
            assert lb is not None
            amp = m.Amphora(id=m.new_id(), load_balancer_id=lb_id, status=C.AMP_BOOTING,
                            role=C.ROLE_STANDALONE, vrrp_ip=lb.vip.ip_address,
                            ha_ip=lb.vip.ip_address, ha_port_id=lb.vip.port_id,
                            lb_network_ip=ipam.allocate_management_ip(session,
                                                                      self.cfg.network.management))
            amp.compute_id = self.namespace(amp.id)
            session.add(amp)
            return amp

    # -- ACTIVE_STANDBY ----------------------------------------------------------------
    def _pair(self, lb_id: str) -> Pass:
        """Two serving amphorae, replacing at most one failed amphora per pass while a
        failed one that still answers (a failover through the API) keeps serving."""
        with self.db.read() as session:
            rows = list(session.execute(select(m.Amphora).where(
                m.Amphora.load_balancer_id == lb_id, m.Amphora.status != C.AMP_DELETED)
                .order_by(m.Amphora.created_at, m.Amphora.id)).scalars())
        live = [a for a in rows if a.status in _LIVE]
        failed = [a for a in rows if a.status in _FAILED]
        serving, victims = live[:2], live[2:] + failed
        held = None
        if not serving:
            # Both failed (load balancer failover): keep one that answers, MASTER first.
            for amp in sorted(failed, key=lambda a: a.role != C.ROLE_MASTER):
                if amp.status == C.AMP_ERROR and self._answers(amp):
                    held = amp
                    break
        if held is not None:
            serving.append(held)
            victims.remove(held)
        if not any(a.role == C.ROLE_MASTER for a in serving) and serving:
            self._set_role(serving[0], C.ROLE_MASTER)  # the survivor holds the VIP now
        while len(serving) < 2:
            role = C.ROLE_BACKUP if serving else C.ROLE_MASTER
            serving.append(self._new_pair_member(lb_id, role))
        serving.sort(key=lambda a: a.role != C.ROLE_MASTER)
        return Pass(serving, victims, complete=held is None)

    def _answers(self, amp: m.Amphora) -> bool:
        try:
            self.agents.info(amp.id, amp.lb_network_ip or "", timeout=_ANSWER_TIMEOUT)
            return True
        except (AgentUnreachable, AgentError):
            return False

    def _set_role(self, amp: m.Amphora, role: str) -> None:
        with self.db.write() as session:
            session.execute(update(m.Amphora).where(m.Amphora.id == amp.id).values(
                role=role, vrrp_priority=C.VRRP_PRIORITY[role]))
        amp.role, amp.vrrp_priority = role, C.VRRP_PRIORITY[role]
        LOG.info("amphora %s is now %s", amp.id, role)

    def _new_pair_member(self, lb_id: str, role: str) -> m.Amphora:
        with self.db.write() as session:
            lb = session.get(m.LoadBalancer, lb_id)
            assert lb is not None
            subnet = self.cfg.subnet(lb.vip.subnet_id)
            if subnet is None:
                raise AmphoraFailed(f"VIP subnet of load balancer {lb_id} is not configured")
            amp_id = m.new_id()
            amp = m.Amphora(
                id=amp_id, load_balancer_id=lb_id, status=C.AMP_BOOTING, role=role,
                vrrp_ip=ipam.allocate(session, subnet, ipam.OWNER_VRRP, amp_id),
                vrrp_port_id=m.new_id(), ha_ip=lb.vip.ip_address, ha_port_id=lb.vip.port_id,
                vrrp_interface=VRRP_INTERFACE, vrrp_id=VRRP_ID,
                vrrp_priority=C.VRRP_PRIORITY[role],
                lb_network_ip=ipam.allocate_management_ip(session, self.cfg.network.management))
            amp.compute_id = self.namespace(amp.id)
            session.add(amp)
        return amp

    # -- member subnets ------------------------------------------------------------------
    def _member_ports(self, amp: m.Amphora, lb_id: str) -> list[MemberPlug]:
        """The amphora's ports on the subnets of its members that it has no VIP on."""
        port = m.AmphoraMemberPort
        with self.db.read() as session:  # most passes change nothing: no write
            wanted = _member_subnets(session, lb_id)
            ports = {r.subnet_id: (r.slot, r.ip_address) for r in session.scalars(
                select(port).where(port.amphora_id == amp.id))}
        if set(ports) != wanted:
            ports = self._change_member_ports(amp, lb_id)
        plugs = []
        for subnet_id, (slot, address) in sorted(ports.items(), key=lambda p: p[1][0]):
            subnet = self._subnet(subnet_id, "member")
            plugs.append(MemberPlug(slot=slot, subnet_bridge=subnet.bridge, address=address,
                                    prefixlen=subnet.network.prefixlen))
        return plugs

    def _change_member_ports(self, amp: m.Amphora, lb_id: str) -> dict[str, tuple[int, str]]:
        """Add rows for new member subnets (an address and the lowest free slot) and
        remove the rows of subnets no member uses any more (freeing their addresses).
        Returns subnet -> (slot, address)."""
        port = m.AmphoraMemberPort
        with self.db.write() as session:
            wanted = _member_subnets(session, lb_id)
            rows = list(session.scalars(select(port).where(port.amphora_id == amp.id)))
            ports = {}
            for row in rows:
                if row.subnet_id in wanted:
                    ports[row.subnet_id] = (row.slot, row.ip_address)
                else:
                    session.delete(row)
                    ipam.release(session, [amp.id], [ipam.OWNER_MEMBER_PORT], row.subnet_id)
            slots = {slot for slot, _ in ports.values()}
            for subnet_id in sorted(wanted - set(ports)):
                subnet = self._subnet(subnet_id, "member")
                free = [n for n in range(MAX_MEMBER_PLUGS) if n not in slots]
                if not free:
                    raise AmphoraFailed(f"amphora {amp.id} has no free member port slot")
                address = ipam.allocate(session, subnet, ipam.OWNER_MEMBER_PORT, amp.id)
                session.add(port(amphora_id=amp.id, subnet_id=subnet_id, slot=free[0],
                                 ip_address=address))
                slots.add(free[0])
                ports[subnet_id] = (free[0], address)
        return ports

    def _subnet(self, subnet_id: str, what: str) -> SubnetConfig:
        subnet = self.cfg.subnet(subnet_id)
        if subnet is None:
            raise AmphoraFailed(f"{what} subnet {subnet_id} is not configured")
        return subnet

    def _network_spec(self, amp: m.Amphora, lb_id: str,
                      member_plugs: list[MemberPlug]) -> AmphoraBuild:
        """The amphora's build with its network fields filled in."""
        assert amp.lb_network_ip
        with self.db.read() as session:
            lb = session.get(m.LoadBalancer, lb_id)
            assert lb is not None
            subnet = self.cfg.subnet(lb.vip.subnet_id)
            vip = lb.vip.ip_address
            extra = [(av.subnet_id, av.ip_address) for av in lb.additional_vips if av.ip_address]
        if subnet is None or vip is None:
            raise AmphoraFailed(f"VIP subnet of load balancer {lb_id} is not configured")
        # In a pair the interfaces carry the VRRP address (on the VIP subnet) or nothing
        # (additional VIP subnets): keepalived adds the VIPs on the one that holds them.
        paired = amp.role in (C.ROLE_MASTER, C.ROLE_BACKUP)
        plugs = [VipPlug(subnet_bridge=subnet.bridge, address=amp.vrrp_ip if paired else vip,
                         prefixlen=subnet.network.prefixlen, gateway=None)]
        for subnet_id, address in extra:  # one more interface per additional VIP
            extra_subnet = self._subnet(subnet_id, "additional VIP")
            plugs.append(VipPlug(subnet_bridge=extra_subnet.bridge,
                                 address=None if paired else address,
                                 prefixlen=extra_subnet.network.prefixlen, gateway=None))
        mgmt = self.cfg.network.management
        return AmphoraBuild(
            amphora_id=amp.id, namespace=amp.compute_id or self.namespace(amp.id),
            base_dir=self.base_dir(amp.id), mgmt_ip=amp.lb_network_ip,
            mgmt_prefixlen=_prefixlen(mgmt.cidr), mgmt_bridge=mgmt.bridge,
            vip_plugs=plugs, member_plugs=member_plugs)

    def _build(self, amp: m.Amphora, lb_id: str, spec: AmphoraBuild) -> None:
        assert amp.lb_network_ip
        with self.db.read() as session:
            lb = session.get(m.LoadBalancer, lb_id)
            assert lb is not None
            haproxy_bin = haproxy_binary(self.cfg, session, lb)
            resources = amphora_resources(self.cfg, session, lb)
        spec.vcpus, spec.ram_mb = resources.vcpus, resources.ram_mb
        issued = self.ca.issue_server_cert(amp.id, [amp.lb_network_ip])
        base_dir = spec.base_dir
        spec.agent_config = {
            "amphora_id": amp.id, "bind_ip": amp.lb_network_ip,
            "bind_port": self.cfg.amphora.agent_port,
            "cert": f"{base_dir}/server.pem", "key": f"{base_dir}/server.key",
            "ca": f"{base_dir}/ca.pem", "base_dir": base_dir,
            "certs_dir": self.certs_dir(amp.id),
            "haproxy_bin": haproxy_bin,
            "keepalived_bin": self.cfg.amphora.keepalived_bin,
            "heartbeat_targets": [f"{self.cfg.heartbeat_bind_ip}:"
                                  f"{self.cfg.health_manager.bind_port}"],
            "heartbeat_key": self.heartbeat_key,
            "heartbeat_interval": self.cfg.health_manager.heartbeat_interval,
        }
        spec.files = {"server.pem": issued.cert_pem, "server.key": issued.key_pem,
                      "ca.pem": Path(self.ca.ca_cert_path).read_bytes()}
        started = time.monotonic()
        self.compute.build(spec)
        try:
            self.agents.wait_ready(amp.id, amp.lb_network_ip, self.cfg.controller.amp_boot_timeout)
        except (AgentUnreachable, AgentError) as exc:
            raise AmphoraFailed(f"amphora {amp.id} agent did not answer: {exc}") from exc
        LOG.info("amphora %s ready in %.3f s", amp.id, time.monotonic() - started)
        with self.db.write() as session:
            session.execute(update(m.Amphora).where(m.Amphora.id == amp.id).values(
                status=C.AMP_ALLOCATED, cert_expiration=issued.expires.replace(tzinfo=None),
                compute_id=spec.namespace))
            _touch_health(session, amp.id)
        amp.status = C.AMP_ALLOCATED

    # -- removal -------------------------------------------------------------------
    def remove_failed(self, lb_id: str) -> None:
        with self.db.read() as session:
            failed = list(session.execute(select(m.Amphora).where(
                m.Amphora.load_balancer_id == lb_id,
                m.Amphora.status.in_(_FAILED))).scalars())
        self.remove_many(failed)

    def remove_many(self, amps: list[m.Amphora]) -> None:
        for amp in amps:
            self.remove(amp)

    def remove_all(self, lb_id: str) -> None:
        with self.db.read() as session:
            amps = list(session.execute(select(m.Amphora).where(
                m.Amphora.load_balancer_id == lb_id,
                m.Amphora.status != C.AMP_DELETED)).scalars())
        self.remove_many(amps)

    def remove(self, amp: m.Amphora) -> None:
        self.compute.delete(amp.id, amp.compute_id or self.namespace(amp.id),
                            self.base_dir(amp.id))
        with self.db.write() as session:
            status.mark_amphora_deleted(session, amp.id)
        LOG.info("amphora %s removed", amp.id)


def _touch_health(session, amphora_id: str) -> None:  # type: ignore[no-untyped-def]
    """A fresh amphora gets a full heartbeat timeout before it can be judged silent."""
    now = time.time()
    updated = session.execute(update(m.AmphoraHealth).where(m.AmphoraHealth.amphora_id == amphora_id)
                              .values(last_update=now)).rowcount
    if not updated:
        session.add(m.AmphoraHealth(amphora_id=amphora_id, last_update=now, seq=0, busy=False))


def _member_subnets(session: Session, lb_id: str) -> set[str]:
    """Subnets of the members the load balancer serves, other than its VIP subnets."""
    member, pool = m.Member, m.Pool
    subnets: set[str] = set(session.scalars(
        select(member.subnet_id).distinct().join(pool, member.pool_id == pool.id).where(
            pool.load_balancer_id == lb_id, member.subnet_id.is_not(None),
            member.provisioning_status.not_in((C.PENDING_DELETE, C.DELETED)),
            pool.provisioning_status.not_in((C.PENDING_DELETE, C.DELETED)))))
    lb = session.get(m.LoadBalancer, lb_id)
    assert lb is not None
    return subnets - {lb.vip.subnet_id} - {av.subnet_id for av in lb.additional_vips}


def _prefixlen(cidr: str) -> int:
    return int(cidr.split("/")[1])
