"""Rotate amphora agent certificates before they expire (Octavia's housekeeping job).

Each amphora's agent certificate from portus's CA lives `[certificates]
validity_days`; amphorae can outlive that. Housekeeping picks the ones expiring
within `[house_keeping] cert_expiry_buffer`, marks each busy with a conditional
update (so two controllers never rotate the same one), sends a new certificate and
key to the agent, and records the new expiry.
"""
from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select, update

from portus.common import constants as C
from portus.common.config import Config
from portus.db import models as m
from portus.db.session import Database
from portus.drivers.amphora.rest_client import AgentClient, AgentError, AgentUnreachable
from portus.drivers.certificates.local_ca import LocalCA

LOG = logging.getLogger(__name__)


class CertRotator:
    def __init__(self, cfg: Config, db: Database, ca: LocalCA, agents: AgentClient) -> None:
        self.cfg, self.db, self.ca, self.agents = cfg, db, ca, agents

    def rotate_expiring(self, now: dt.datetime | None = None) -> list[str]:
        """Rotate every allocated amphora whose certificate expires within the buffer;
        returns the ids rotated."""
        now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        limit = now + dt.timedelta(seconds=self.cfg.house_keeping.cert_expiry_buffer)
        with self.db.read() as session:
            due = session.execute(select(m.Amphora.id, m.Amphora.lb_network_ip).where(
                m.Amphora.status == C.AMP_ALLOCATED, m.Amphora.cert_busy.is_(False),
                m.Amphora.cert_expiration < limit)).all()
        return [amp_id for amp_id, ip in due if ip and self._rotate(amp_id, ip)]

    def _rotate(self, amp_id: str, ip: str) -> bool:
        with self.db.write() as session:
            claimed = session.execute(update(m.Amphora).where(
                m.Amphora.id == amp_id, m.Amphora.cert_busy.is_(False))
                .values(cert_busy=True)).rowcount  # type: ignore[attr-defined]
        if not claimed:
            return False
        expires = None
        try:
            issued = self.ca.issue_server_cert(amp_id, [ip])
            self.agents.put_server_certificate(amp_id, ip, issued.cert_pem + issued.key_pem)
            expires = issued.expires.replace(tzinfo=None)
            LOG.info("amphora %s: certificate rotated, valid until %s", amp_id, expires)
        except (AgentError, AgentUnreachable) as exc:
            LOG.warning("amphora %s: certificate rotation failed (%s); next pass retries",
                        amp_id, exc)
        with self.db.write() as session:
            values: dict[str, object] = {"cert_busy": False}
            if expires is not None:
                values["cert_expiration"] = expires
            session.execute(update(m.Amphora).where(m.Amphora.id == amp_id).values(**values))
        return expires is not None
