"""Leases: one owner converges a load balancer at a time.

A lease is (owner, expiry) on the load balancer row, taken with a conditional
UPDATE so two controllers on different hosts can never both hold it. A holder
that dies simply stops renewing; after `ttl` seconds anyone may take it.
"""
from __future__ import annotations

import time

from sqlalchemy import or_, update

from portus.db import models as m
from portus.db.session import Database


class LeaseLost(Exception):
    pass


class Leases:
    def __init__(self, db: Database, owner: str, ttl: float) -> None:
        self.db = db
        self.owner = owner
        self.ttl = ttl

    def claim(self, lb_id: str) -> bool:
        now = time.time()
        lb = m.LoadBalancer
        with self.db.write() as session:
            result = session.execute(
                update(lb).where(lb.id == lb_id, or_(lb.lease_owner.is_(None),
                                                     lb.lease_expires < now,
                                                     lb.lease_owner == self.owner))
                .values(lease_owner=self.owner, lease_expires=now + self.ttl)
                .execution_options(synchronize_session=False))
            return result.rowcount == 1  # type: ignore[attr-defined, no-any-return]

    def renew(self, lb_id: str) -> None:
        lb = m.LoadBalancer
        with self.db.write() as session:
            result = session.execute(
                update(lb).where(lb.id == lb_id, lb.lease_owner == self.owner)
                .values(lease_expires=time.time() + self.ttl)
                .execution_options(synchronize_session=False))
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise LeaseLost(lb_id)

    def release(self, lb_id: str) -> None:
        lb = m.LoadBalancer
        with self.db.write() as session:
            session.execute(update(lb).where(lb.id == lb_id, lb.lease_owner == self.owner)
                            .values(lease_owner=None, lease_expires=None)
                            .execution_options(synchronize_session=False))
