"""The worker: converge each load balancer to its desired state (level-triggered).

`Reconciler.converge(lb_id)` never trusts the message that woke it: it takes the
lease, reads the whole load balancer, makes the amphora match it, and records the
generation it applied. `Worker` runs reconciles on a few threads, fed by wake-ups
and by a periodic sweep that finds anything still pending (for example after a
controller was killed mid-way and its lease expired).
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable

from sqlalchemy import or_, select, update

from portus.amphora.render import render_haproxy
from portus.amphora.render_nft import udp_config
from portus.amphora.spec import AmphoraRuntime
from portus.drivers.certificates.secret_box import SecretBox
from portus.drivers.certificates.store import CertificateStore
from portus.common import constants as C
from portus.common.config import Config
from portus.controller.amphorae import AmphoraManager
from portus.controller.flavors import amphora_resources
from portus.controller.lease import Leases, LeaseLost
from portus.controller.snapshot import load_balancer_spec
from portus.controller.vrrp import keepalived_config, virtual_addresses
from portus.db import models as m, status
from portus.db.session import Database
from portus.drivers.amphora.rest_client import AgentClient, AgentError
from portus.drivers.provider.registry import builds_amphorae

LOG = logging.getLogger(__name__)


class Reconciler:
    def __init__(self, cfg: Config, db: Database, leases: Leases, amphorae: AmphoraManager,
                 agents: AgentClient) -> None:
        self.cfg = cfg
        self.db = db
        self.leases = leases
        self.amphorae = amphorae
        self.agents = agents
        self.certs = CertificateStore(SecretBox(cfg.secret_key_path))

    def converge(self, lb_id: str) -> float | None:
        """Converge one load balancer. Returns a delay to retry after, or None when done
        (or when another controller holds the lease)."""
        if self._converge_without_amphorae(lb_id):
            return None
        if not self.leases.claim(lb_id):
            return None
        try:
            while True:
                with self.db.read() as session:
                    lb = session.get(m.LoadBalancer, lb_id)
                    if lb is None or lb.provisioning_status not in C.PENDING_STATUSES:
                        return None
                    if lb.provisioning_status == C.PENDING_DELETE:
                        deleting = True
                    else:
                        deleting = False
                        spec = load_balancer_spec(session, lb, self.certs)
                        maxconn = amphora_resources(self.cfg, session, lb).maxconn
                        vips = (virtual_addresses(self.cfg, lb)
                                if lb.topology == C.TOPOLOGY_ACTIVE_STANDBY else ())
                if deleting:
                    self._delete(lb_id)
                    return None
                plan = self.amphorae.ensure(lb_id)
                self.leases.renew(lb_id)
                # Before the survivor learns its new peer: a failed amphora that still
                # runs would otherwise stop hearing adverts, take the VIP and take it
                # away with it when removed. Stopped first, it hands the VIP over.
                self.amphorae.remove_many(plan.victims)
                # The same HAProxy configuration everywhere (a BACKUP binds the VIP too,
                # ip_nonlocal_bind), MASTER first so it learns of a new peer first.
                peers = tuple((a.id, a.vrrp_ip) for a in plan.serving
                              if vips and a.vrrp_ip and len(plan.serving) > 1)
                for amp in plan.serving:
                    base_dir = self.amphorae.base_dir(amp.id)
                    runtime = AmphoraRuntime(amphora_id=amp.id, base_dir=base_dir,
                                             maxconn=maxconn,
                                             certs_dir=self.amphorae.certs_dir(amp.id),
                                             peers=peers)
                    ip = amp.lb_network_ip or ""
                    self.agents.put_certificates(amp.id, ip, spec.files)
                    self.agents.put_config(
                        amp.id, ip, render_haproxy(spec, runtime),
                        spec.generation, keepalived_config(self.cfg, lb_id, spec.generation,
                                                           amp, plan.serving, vips, base_dir))
                    self._put_udp(amp.id, ip, udp_config(spec), spec.generation)
                    self.leases.renew(lb_id)
                if not plan.complete:
                    LOG.info("load balancer %s: one amphora replaced; next one", lb_id)
                    continue
                with self.db.write() as session:
                    if status.finish_generation(session, lb_id, spec.generation):
                        session.execute(update(m.Amphora).where(
                            m.Amphora.id.in_([a.id for a in plan.serving]))
                            .values(applied_generation=spec.generation))
                        LOG.info("load balancer %s converged at generation %d", lb_id,
                                 spec.generation)
                        return None
                LOG.debug("load balancer %s changed while converging; again", lb_id)
        except LeaseLost:
            LOG.warning("lost the lease on %s; another controller takes over", lb_id)
            return None
        except Exception as exc:
            return self._failed(lb_id, exc)
        finally:
            self.leases.release(lb_id)

    def _put_udp(self, amp_id: str, ip: str, doc: dict[str, Any], generation: int) -> None:
        try:
            self.agents.put_udp(amp_id, ip, doc, generation)
        except AgentError as exc:
            # An agent from before the UDP data plane has no /1.0/udp and nothing to clear.
            if not (exc.status == 404 and not doc["listeners"]):
                raise

    def _converge_without_amphorae(self, lb_id: str) -> bool:
        """The noop provider: nothing to build, the desired state is the result. No
        lease: each pass is one idempotent transaction. False when the load balancer
        builds amphorae (the caller converges it)."""
        lb = m.LoadBalancer
        with self.db.read() as session:  # the provider of a load balancer never changes
            provider = session.execute(select(lb.provider).where(lb.id == lb_id)).scalar()
        if builds_amphorae(self.cfg, provider):
            return False
        while True:
            with self.db.write() as session:
                row = session.execute(select(lb.provisioning_status, lb.desired_generation)
                                      .where(lb.id == lb_id)).one_or_none()
                if row is None or row.provisioning_status not in C.PENDING_STATUSES:
                    return True
                if row.provisioning_status == C.PENDING_DELETE:
                    status.mark_deleted(session, lb_id)
                    LOG.info("load balancer %s deleted (no amphorae)", lb_id)
                    return True
                if status.finish_generation(session, lb_id, row.desired_generation):
                    LOG.info("load balancer %s converged at generation %d (no amphorae)",
                             lb_id, row.desired_generation)
                    return True
            # A change committed between the read and the update: converge it too.

    def _delete(self, lb_id: str) -> None:
        self.amphorae.remove_all(lb_id)
        with self.db.write() as session:
            status.mark_deleted(session, lb_id)
        LOG.info("load balancer %s deleted", lb_id)

    def _failed(self, lb_id: str, exc: Exception) -> float | None:
        reason = f"{type(exc).__name__}: {exc}"
        with self.db.write() as session:
            lb = session.get(m.LoadBalancer, lb_id)
            if lb is None:
                return None
            lb.converge_attempts += 1
            attempts = lb.converge_attempts
            if attempts < self.cfg.controller.converge_attempts:
                LOG.warning("load balancer %s: attempt %d failed: %s", lb_id, attempts, reason)
                return self.cfg.controller.retry_backoff * attempts
            LOG.error("load balancer %s goes to ERROR: %s", lb_id, reason)
            status.fail_generation(session, lb_id, reason)
        return None


class Worker:
    """Threads that run reconciles; wake-ups and a sweep feed them."""

    def __init__(self, cfg: Config, db: Database, reconcile: Callable[[str], float | None],
                 ) -> None:
        self.cfg = cfg
        self.db = db
        self.reconcile = reconcile
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._queued: set[str] = set()
        self._running: set[str] = set()
        self._again: set[str] = set()
        self._not_before: dict[str, float] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for i in range(self.cfg.controller.workers):
            t = threading.Thread(target=self._run, name=f"worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._sweep_loop, name="worker-sweep", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for _ in range(self.cfg.controller.workers):
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def notify(self, lb_id: str) -> None:
        with self._lock:
            self._not_before.pop(lb_id, None)
            if lb_id in self._running:
                self._again.add(lb_id)  # re-run when the current pass ends
                return
            if lb_id in self._queued:
                return
            self._queued.add(lb_id)
        self._queue.put(lb_id)

    def sweep(self) -> None:
        now = time.time()
        lb = m.LoadBalancer
        with self.db.read() as session:
            ids = list(session.execute(
                select(lb.id).where(lb.provisioning_status.in_(C.PENDING_STATUSES),
                                    or_(lb.lease_owner.is_(None), lb.lease_expires < now))
                .limit(1000)).scalars())
        mono = time.monotonic()
        for lb_id in ids:
            if self._not_before.get(lb_id, 0.0) <= mono:
                self.notify(lb_id)

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self.cfg.controller.sweep_interval):
            try:
                self.sweep()
            except Exception:
                LOG.exception("sweep failed")

    def _run(self) -> None:
        while True:
            lb_id = self._queue.get()
            if lb_id is None or self._stop.is_set():
                return
            with self._lock:
                self._queued.discard(lb_id)
                self._running.add(lb_id)
            delay: float | None = None
            try:
                delay = self.reconcile(lb_id)
            except Exception:
                LOG.exception("reconcile of %s crashed", lb_id)
                delay = self.cfg.controller.retry_backoff
            finally:
                with self._lock:
                    self._running.discard(lb_id)
                    again = lb_id in self._again
                    self._again.discard(lb_id)
                    if delay is not None:
                        self._not_before[lb_id] = time.monotonic() + delay
            if again:
                self.notify(lb_id)
