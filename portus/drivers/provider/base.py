"""The provider driver interface: what the API asks of the backend that builds load balancers.

portus's worker builds every load balancer itself, so a provider here is not a remote
system: it is the set of options a backend accepts (flavor and availability zone
metadata) and the per-object checks it enforces before the API stores anything.
Metadata a provider refuses (`InvalidMetadata`) and an option it does not implement
(`UnsupportedOption`) are both 501, as Octavia's `ProviderUnsupportedOptionError`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class InvalidMetadata(ValueError):
    """Flavor or availability zone metadata the provider refuses (501 at the profile
    API, as Octavia's UnsupportedOptionError)."""


class UnsupportedOption(Exception):
    """A valid request that this provider cannot carry out (501)."""


class ProviderDriver(ABC):
    name: str
    description: str = ""

    # --- flavors ---------------------------------------------------------------------
    @abstractmethod
    def flavor_capabilities(self) -> dict[str, str]:
        """Metadata keys a flavor profile may set, with their descriptions."""

    @abstractmethod
    def validate_flavor(self, metadata: dict[str, Any]) -> None:
        """Raise InvalidMetadata unless every key and value is acceptable."""

    # --- availability zones ----------------------------------------------------------
    @abstractmethod
    def availability_zone_capabilities(self) -> dict[str, str]:
        """Metadata keys an availability zone profile may set."""

    @abstractmethod
    def validate_availability_zone(self, metadata: dict[str, Any]) -> None:
        """Raise InvalidMetadata unless every key and value is acceptable."""

    # --- per-object checks (raise UnsupportedOption); the defaults accept everything --
    def check_load_balancer(self, flavor: dict[str, Any]) -> None:
        """A load balancer is created with this flavor metadata."""

    def check_pool(self, protocol: str, lb_algorithm: str) -> None:
        """A pool is created or its algorithm changed."""

    def check_l7policy(self, listener_protocol: str) -> None:
        """An L7 policy is created on a listener of this protocol."""

    @property
    def builds_amphorae(self) -> bool:
        """False when the worker should mark this provider's load balancers converged
        without building anything (the noop provider)."""
        return True
