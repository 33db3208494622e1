"""Housekeeping rotates amphora certificates that expire within the buffer."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa
from cryptography import x509

from portus.common import constants as C
from portus.controller.cert_rotation import CertRotator
from portus.db import models as m
from portus.drivers.amphora.rest_client import AgentUnreachable
from portus.drivers.certificates.local_ca import LocalCA

from tests.functional.conftest import Api

NOW = dt.datetime(2030, 1, 1)


class _Agents:
    def __init__(self, fail: bool = False) -> None:
        self.sent: dict[str, bytes] = {}
        self.fail = fail

    def put_server_certificate(self, amp_id: str, ip: str, pem: bytes) -> dict[str, str]:
        if self.fail:
            raise AgentUnreachable(f"{ip} is down")
        self.sent[amp_id] = pem
        return {"certificate": "replaced"}


def _amphora(api: Api, name: str, expires_in: dt.timedelta, status: str = C.AMP_ALLOCATED,
             ip: str = "198.18.0.9") -> str:
    with api.db.write() as session:
        session.add(m.Amphora(id=name, status=status, lb_network_ip=ip,
                              cert_expiration=NOW + expires_in))
    return name


def _row(api: Api, amp_id: str) -> tuple[dt.datetime | None, bool]:
    with api.db.read() as session:
        amp = session.execute(sa.select(m.Amphora).where(m.Amphora.id == amp_id)).scalar_one()
        return amp.cert_expiration, amp.cert_busy


def test_rotates_only_what_expires_soon(api: Api, tmp_path: Path) -> None:
    ca = LocalCA(tmp_path / "ca", validity_days=30)
    ca.ensure()
    soon = _amphora(api, "amp-soon", dt.timedelta(days=3), ip="198.18.0.9")
    later = _amphora(api, "amp-later", dt.timedelta(days=20), ip="198.18.0.10")
    _amphora(api, "amp-deleted", dt.timedelta(days=1), status=C.AMP_DELETED, ip="198.18.0.11")
    agents = _Agents()
    rotator = CertRotator(api.cfg, api.db, ca, agents)  # type: ignore[arg-type]
    assert rotator.rotate_expiring(NOW) == [soon]
    cert = x509.load_pem_x509_certificate(agents.sent[soon])
    assert b"PRIVATE KEY" in agents.sent[soon]
    expires, busy = _row(api, soon)
    assert expires == cert.not_valid_after_utc.replace(tzinfo=None) and busy is False
    assert _row(api, later)[0] == NOW + dt.timedelta(days=20)


def test_a_failed_rotation_is_retried_next_pass(api: Api, tmp_path: Path) -> None:
    ca = LocalCA(tmp_path / "ca", validity_days=30)
    ca.ensure()
    amp = _amphora(api, "amp-down", dt.timedelta(days=1))
    assert CertRotator(api.cfg, api.db, ca, _Agents(fail=True)).rotate_expiring(  # type: ignore[arg-type]
        NOW) == []
    assert _row(api, amp) == (NOW + dt.timedelta(days=1), False)
    assert CertRotator(api.cfg, api.db, ca, _Agents()).rotate_expiring(NOW) == [amp]  # type: ignore[arg-type]
