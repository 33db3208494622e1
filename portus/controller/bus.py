"""Wake-up messages from the API to the worker.

A message is only a hint that a load balancer changed; the worker's periodic
sweep finds every pending load balancer anyway. In `portus up` the API and the
worker share a process, so the bus is a list of callbacks. Split deployments
run without one and rely on the sweep (`controller.sweep_interval`).
"""
from __future__ import annotations

import logging
from typing import Callable

LOG = logging.getLogger(__name__)


class InProcessBus:
    def __init__(self) -> None:
        self._subscribers: list[Callable[[str], None]] = []

    def subscribe(self, callback: Callable[[str], None]) -> None:
        self._subscribers.append(callback)

    def notify(self, lb_id: str) -> None:
        for callback in self._subscribers:
            try:
                callback(lb_id)
            except Exception:  # a hint must never fail the API request
                LOG.exception("wake-up for %s failed", lb_id)
