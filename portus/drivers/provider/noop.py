"""The noop provider: accepts everything and builds nothing.

Its load balancers go ACTIVE as soon as the worker sees them (and DELETED when
deleted), with no amphora: for API tests and control-plane benchmarks.
"""
from __future__ import annotations

from typing import Any

from portus.drivers.provider.base import InvalidMetadata, ProviderDriver


class NoopProvider(ProviderDriver):
    name = "noop"
    description = "A driver that builds nothing (tests and benchmarks)."

    def flavor_capabilities(self) -> dict[str, str]:
        return {"noop_key": "Any key is accepted; none has an effect."}

    def validate_flavor(self, metadata: dict[str, Any]) -> None:
        if not isinstance(metadata, dict):
            raise InvalidMetadata("flavor_data must be a JSON object")

    def availability_zone_capabilities(self) -> dict[str, str]:
        return {"noop_key": "Any key is accepted; none has an effect."}

    def validate_availability_zone(self, metadata: dict[str, Any]) -> None:
        if not isinstance(metadata, dict):
            raise InvalidMetadata("availability_zone_data must be a JSON object")

    @property
    def builds_amphorae(self) -> bool:
        return False
