"""Housekeeping: purge old DELETED rows, remove orphaned amphorae, rotate amphora
certificates."""
from __future__ import annotations

import datetime as dt
import logging
import threading
from pathlib import Path
from typing import Callable

from sqlalchemy import delete, select

from portus.common import constants as C
from portus.common.config import Config
from portus.db import models as m, status
from portus.db.session import Database
from portus.drivers.compute.base import ComputeDriver

LOG = logging.getLogger(__name__)


class HouseKeeping:
    def __init__(self, cfg: Config, db: Database, compute: ComputeDriver,
                 rotate_certificates: Callable[[], list[str]] | None = None) -> None:
        self.cfg = cfg
        self.db = db
        self.compute = compute
        self.rotate_certificates = rotate_certificates
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="housekeeping", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.wait(self.cfg.house_keeping.interval):
            try:
                self.run_once()
            except Exception:
                LOG.exception("housekeeping failed")

    def run_once(self) -> None:
        self.purge_deleted()
        self.remove_deleted_amphorae()
        if self.cfg.house_keeping.orphan_cleanup:
            self.remove_orphans()
        if self.rotate_certificates is not None:
            self.rotate_certificates()

    def purge_deleted(self) -> int:
        cutoff = (dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
                  - dt.timedelta(seconds=self.cfg.house_keeping.deleted_expiry_age))
        with self.db.write() as session:
            lb_ids = list(session.execute(select(m.LoadBalancer.id).where(
                m.LoadBalancer.provisioning_status == C.DELETED,
                m.LoadBalancer.updated_at < cutoff)).scalars())
            amps = select(m.Amphora.id).where(m.Amphora.status == C.AMP_DELETED,
                                              m.Amphora.updated_at < cutoff)
            session.execute(delete(m.AmphoraHealth).where(m.AmphoraHealth.amphora_id.in_(amps)))
            # Materialised first: MariaDB refuses a DELETE whose subquery reads the same table.
            amp_ids = list(session.execute(amps).scalars())
            session.execute(delete(m.Amphora).where(m.Amphora.id.in_(amp_ids)))
            if lb_ids:
                session.execute(delete(m.Amphora).where(m.Amphora.load_balancer_id.in_(lb_ids),
                                                        m.Amphora.status == C.AMP_DELETED))
                session.execute(delete(m.Vip).where(m.Vip.load_balancer_id.in_(lb_ids)))
                session.execute(delete(m.AdditionalVip)
                                .where(m.AdditionalVip.load_balancer_id.in_(lb_ids)))
                session.execute(delete(m.Tag).where(m.Tag.resource_id.in_(lb_ids)))
                session.execute(delete(m.LoadBalancer).where(m.LoadBalancer.id.in_(lb_ids)))
        if lb_ids:
            LOG.info("purged %d deleted load balancer(s)", len(lb_ids))
        return len(lb_ids)

    def remove_deleted_amphorae(self) -> list[str]:
        """Amphorae deleted through the API that no worker will see: no load balancer,
        or a DELETED one. (With a live load balancer the worker removes them.)"""
        lb = m.LoadBalancer
        with self.db.read() as session:
            rows = list(session.execute(
                select(m.Amphora.id, m.Amphora.compute_id)
                .outerjoin(lb, lb.id == m.Amphora.load_balancer_id)
                .where(m.Amphora.status == C.AMP_PENDING_DELETE,
                       (lb.id.is_(None)) | (lb.provisioning_status == C.DELETED))))
        for amphora_id, namespace in rows:
            base_dir = str(Path(self.cfg.run_dir) / "amphorae" / amphora_id)
            self.compute.delete(amphora_id, namespace or self.cfg.amphora.namespace_prefix
                                + amphora_id, base_dir)
            with self.db.write() as session:
                status.mark_amphora_deleted(session, amphora_id)
            LOG.info("amphora %s removed (deleted through the API)", amphora_id)
        return [r[0] for r in rows]

    def remove_orphans(self) -> list[str]:
        """Namespaces with our prefix that no live amphora row claims."""
        with self.db.read() as session:
            known = set(session.execute(select(m.Amphora.compute_id).where(
                m.Amphora.status != C.AMP_DELETED)).scalars())
        removed = []
        prefix = self.cfg.amphora.namespace_prefix
        for namespace in self.compute.list_amphora_namespaces():
            if namespace in known:
                continue
            amphora_id = namespace[len(prefix):]
            base_dir = str(Path(self.cfg.run_dir) / "amphorae" / amphora_id)
            LOG.warning("removing orphaned amphora namespace %s", namespace)
            self.compute.delete(amphora_id, namespace, base_dir)
            removed.append(namespace)
        return removed
