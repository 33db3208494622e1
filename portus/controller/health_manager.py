"""The health manager: heartbeats in, operating status and statistics out, failover of
silent amphorae.

Heartbeats are HMAC-checked and replay-guarded before anything is read from them.
Statuses are written only when they change, and amphora liveness is kept in memory
and flushed in one batch per interval, so an idle fleet costs the database almost
nothing (Octavia writes one row per amphora per heartbeat).
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any, Callable

from sqlalchemy import select, update

from portus.common import constants as C
from portus.common.config import Config
from portus.common.heartbeat import InvalidHeartbeat, ReplayGuard, decode
from portus.db import models as m, status
from portus.db.session import Database

LOG = logging.getLogger(__name__)

def member_status(reported: str | None, current: str) -> str:
    if reported is None:
        return C.NO_MONITOR if current == C.NO_MONITOR else C.OFFLINE
    word = reported.split(" ")[0].upper()
    if reported.lower() == "no check":
        return C.NO_MONITOR
    return {"UP": C.ONLINE, "DOWN": C.ERROR, "DRAIN": C.DRAINING, "MAINT": C.OFFLINE,
            "NOLB": C.DRAINING}.get(word, C.OFFLINE)


def tree_statuses(lb: dict[str, Any], listeners: list[dict[str, Any]],
                  pools: dict[str, dict[str, Any]], members: dict[str, list[dict[str, Any]]],
                  beat: dict[str, Any]) -> dict[tuple[str, str], str]:
    """Operating status of every object of one load balancer from one heartbeat.

    Inputs are plain rows ({"id", "enabled", "operating_status", ...}); the result maps
    (kind, id) to the status it should have. Health monitors are not here: their
    status follows their own state (set when the worker applies them), not traffic."""
    out: dict[tuple[str, str], str] = {}
    reported_listeners = beat.get("listeners", {})
    reported_pools = beat.get("pools", {})
    lb_status = C.ONLINE if lb["enabled"] else C.OFFLINE
    worst = 0  # 0 fine, 1 degraded, 2 error

    for li in listeners:
        entry = reported_listeners.get(li["id"])
        if not li["enabled"] or not lb["enabled"]:
            out[("listener", li["id"])] = C.OFFLINE
            continue
        if entry is None:
            # As Octavia: missing is an error only once the load balancer is ACTIVE; while
            # it is PENDING_* the listener may just not be applied yet.
            active = lb.get("provisioning_status", C.ACTIVE) == C.ACTIVE
            out[("listener", li["id"])] = C.ERROR if active else C.OFFLINE
            continue
        state = str(entry.get("status", "")).upper()
        out[("listener", li["id"])] = {"OPEN": C.ONLINE, "FULL": C.DEGRADED}.get(state, C.OFFLINE)
        if state == "FULL":
            worst = max(worst, 1)
        # The default pool and the redirect pools of the listener's L7 policies.
        for pool_id in dict.fromkeys([li.get("default_pool_id"), *li.get("l7_pool_ids", ())]):
            if not pool_id or pool_id not in pools:
                continue
            pool = pools[pool_id]
            p_entry = reported_pools.get(f"{pool_id}:{li['id']}")
            if not pool["enabled"] or p_entry is None:
                out[("pool", pool_id)] = C.OFFLINE
                for mb in members.get(pool_id, []):
                    out[("member", mb["id"])] = member_status(None, mb["operating_status"])
                continue
            reported_members = p_entry.get("members", {})
            any_down = False
            for mb in members.get(pool_id, []):
                value = member_status(reported_members.get(mb["id"]), mb["operating_status"])
                out[("member", mb["id"])] = value
                any_down = any_down or value == C.ERROR
            if str(p_entry.get("status", "")).upper() == "DOWN":
                out[("pool", pool_id)] = C.ERROR
                worst = 2
            elif any_down:
                out[("pool", pool_id)] = C.DEGRADED
                worst = max(worst, 1)
            else:
                out[("pool", pool_id)] = C.ONLINE
    if lb["enabled"]:
        lb_status = (C.ONLINE, C.DEGRADED, C.ERROR)[worst]
    out[("loadbalancer", lb["id"])] = lb_status
    return out


_KIND = {"loadbalancer": m.LoadBalancer, "listener": m.Listener, "pool": m.Pool,
         "member": m.Member}


class HealthManager:
    def __init__(self, cfg: Config, db: Database, key: bytes,
                 notify: Callable[[str], None]) -> None:
        self.cfg = cfg
        self.db = db
        self.key = key
        self.notify = notify
        self.guard = ReplayGuard(cfg.health_manager.replay_window)
        self._seen: dict[str, tuple[float, int]] = {}  # amphora -> (time, seq), unflushed
        self._seen_lock = threading.Lock()
        self._last_stats: dict[tuple[str, str], dict[str, int]] = {}
        self._stop = threading.Event()
        self._started = time.time()
        self._sock: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self.address: tuple[str, int] | None = None

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.cfg.heartbeat_bind_ip else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.cfg.heartbeat_bind_ip, self.cfg.health_manager.bind_port))
        sock.settimeout(0.5)
        self._sock = sock
        self.address = sock.getsockname()[:2]
        for target, name in ((self._receive_loop, "hm-receive"), (self._scan_loop, "hm-scan")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(2)
        if self._sock is not None:
            self._sock.close()
        self.flush()

    # -- heartbeats ----------------------------------------------------------------
    def _receive_loop(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                self.handle(data)
            except InvalidHeartbeat as exc:
                LOG.warning("dropped heartbeat from %s: %s", peer[0], exc)
            except Exception:
                LOG.exception("heartbeat from %s failed", peer[0])

    def handle(self, datagram: bytes) -> None:
        beat = decode(datagram, self.key)
        now = time.time()
        self.guard.check(beat["id"], beat["seq"], beat["t"], now)
        with self._seen_lock:
            self._seen[beat["id"]] = (now, beat["seq"])
        self._apply(beat)

    def _apply(self, beat: dict[str, Any]) -> None:
        amp_id = beat["id"]
        with self.db.read() as session:
            amp = session.get(m.Amphora, amp_id)
            if amp is None or amp.load_balancer_id is None or amp.status != C.AMP_ALLOCATED:
                return
            lb = session.get(m.LoadBalancer, amp.load_balancer_id)
            if lb is None or lb.provisioning_status in (C.DELETED, C.PENDING_DELETE):
                return
            rows = _tree_rows(session, lb)
        wanted = tree_statuses(rows[0], rows[1], rows[2], rows[3], beat)
        current = _current(rows)
        changes = {k: v for k, v in wanted.items() if current.get(k) != v}
        listener_ids = {li["id"] for li in rows[1]}
        new_stats = {}
        for listener_id, entry in beat.get("listeners", {}).items():
            values = _stats_values(entry.get("stats", {}))
            if listener_id in listener_ids and self._last_stats.get((listener_id, amp_id)) != values:
                new_stats[(listener_id, amp_id)] = values
        if not changes and not new_stats:
            return
        with self.db.write() as session:
            for (kind, obj_id), value in changes.items():
                cls = _KIND[kind]
                session.execute(update(cls).where(cls.id == obj_id)  # type: ignore[attr-defined]
                                .values(operating_status=value)
                                .execution_options(synchronize_session=False))
            for key, values in new_stats.items():
                _store_stats(session, key[0], key[1], values)
        self._last_stats.update(new_stats)
        if changes:
            LOG.info("load balancer %s: %d status change(s)", lb.id, len(changes))

    # -- liveness ------------------------------------------------------------------
    def flush(self) -> None:
        with self._seen_lock:
            seen, self._seen = self._seen, {}
        if not seen:
            return
        with self.db.write() as session:
            for amp_id, (when, seq) in seen.items():
                done = session.execute(update(m.AmphoraHealth)
                                       .where(m.AmphoraHealth.amphora_id == amp_id)
                                       .values(last_update=when, seq=seq)
                                       ).rowcount  # type: ignore[attr-defined]
                if not done and session.get(m.Amphora, amp_id) is not None:
                    session.add(m.AmphoraHealth(amphora_id=amp_id, last_update=when, seq=seq,
                                                busy=False))

    def _scan_loop(self) -> None:
        interval = min(1.0, self.cfg.health_manager.heartbeat_interval)
        while not self._stop.wait(interval):
            try:
                self.flush()
                # After a restart nobody listened for a while: give every amphora a full
                # timeout before judging it silent.
                if time.time() - self._started >= self.cfg.health_manager.heartbeat_timeout:
                    self.failover_silent()
            except Exception:
                LOG.exception("health scan failed")

    def failover_silent(self) -> list[str]:
        """Mark amphorae that stopped sending heartbeats ERROR and have their load
        balancers rebuilt. Returns the amphora ids."""
        if not self.cfg.health_manager.failover_enabled:
            return []
        limit = time.time() - self.cfg.health_manager.heartbeat_timeout
        with self.db.read() as session:
            stale = list(session.execute(
                select(m.Amphora.id, m.Amphora.load_balancer_id)
                .join(m.AmphoraHealth, m.AmphoraHealth.amphora_id == m.Amphora.id)
                .where(m.Amphora.status == C.AMP_ALLOCATED, m.AmphoraHealth.last_update < limit,
                       m.AmphoraHealth.busy.is_(False))))
        failed = []
        for amp_id, lb_id in stale:
            if lb_id is None:
                continue
            try:
                with self.db.write() as session:
                    status.lock_lb(session, lb_id, allowed=(C.ACTIVE, C.ERROR))
                    session.execute(update(m.Amphora).where(m.Amphora.id == amp_id).values(
                        status=C.AMP_ERROR, status_reason="no heartbeat"))
            except status.LockFailed:
                continue  # the load balancer is busy; the next scan looks again
            LOG.warning("amphora %s of load balancer %s is silent: failing over", amp_id, lb_id)
            failed.append(amp_id)
            self.notify(lb_id)
        return failed


def _tree_rows(session: Any, lb: m.LoadBalancer) -> tuple[Any, ...]:
    def row(o: Any, **extra: Any) -> dict[str, Any]:
        return {"id": o.id, "enabled": o.enabled, "operating_status": o.operating_status,
                **extra}

    listeners = [row(li, default_pool_id=li.default_pool_id, l7_pool_ids=[
        p.redirect_pool_id for p in li.l7policies
        if p.enabled and p.rules and p.action == "REDIRECT_TO_POOL" and p.redirect_pool_id])
        for li in lb.listeners]
    pools = {p.id: row(p) for p in lb.pools}
    members = {p.id: [row(mb) for mb in p.members] for p in lb.pools}
    return row(lb, provisioning_status=lb.provisioning_status), listeners, pools, members


def _current(rows: tuple[Any, ...]) -> dict[tuple[str, str], str]:
    lb, listeners, pools, members = rows
    out = {("loadbalancer", lb["id"]): lb["operating_status"]}
    out.update({("listener", li["id"]): li["operating_status"] for li in listeners})
    out.update({("pool", pid): p["operating_status"] for pid, p in pools.items()})
    for mbs in members.values():
        out.update({("member", mb["id"]): mb["operating_status"] for mb in mbs})
    return out


def _stats_values(stats: dict[str, Any]) -> dict[str, int]:
    return {"bytes_in": int(stats.get("rx", 0)), "bytes_out": int(stats.get("tx", 0)),
            "active_connections": int(stats.get("conns", 0)),
            "total_connections": int(stats.get("totconns", 0)),
            "request_errors": int(stats.get("ereq", 0))}


def _store_stats(session: Any, listener_id: str, amp_id: str, values: dict[str, int]) -> None:
    st = m.ListenerStatistics
    done = session.execute(update(st).where(st.listener_id == listener_id, st.amphora_id == amp_id)
                           .values(**values)).rowcount
    if not done:
        session.add(st(listener_id=listener_id, amphora_id=amp_id, **values))
