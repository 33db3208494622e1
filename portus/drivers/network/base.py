"""Network driver interface: how amphorae are attached to management and VIP networks.

The Linux bridge driver plumbs veths into local bridges; a Neutron driver would
create ports instead. Every method is idempotent so a worker can repeat it.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Plug:
    """One interface of a namespace attached to a bridge."""

    host_ifname: str  # host side of the veth, at most 15 characters
    ns_ifname: str  # name inside the namespace
    bridge: str
    address: str | None  # None: no address on the interface
    prefixlen: int
    # When set, the namespace's default route goes via this gateway on this
    # interface. Give it on at most one plug of a namespace.
    gateway: str | None = None


class NetworkDriver(ABC):
    @abstractmethod
    def ensure_networks(self) -> None:
        """Create the management and subnet networks (bridges with gateways)."""

    @abstractmethod
    def teardown_networks(self) -> None:
        """Remove the networks this driver manages (tests, decommissioning)."""

    @abstractmethod
    def plug(self, namespace: str, host_ifname: str, ns_ifname: str, bridge: str,
             address: str, prefixlen: int) -> None:
        """Attach `namespace` to `bridge` with `address/prefixlen` on `ns_ifname`."""

    @abstractmethod
    def plug_many(self, namespace: str, plugs: Sequence[Plug]) -> None:
        """Attach several interfaces at once (a driver may batch the work)."""

    @abstractmethod
    def unplug(self, host_ifname: str) -> None:
        """Detach an interface; absent interfaces are not an error."""

    def unplug_many(self, host_ifnames: Sequence[str]) -> None:
        for name in host_ifnames:
            self.unplug(name)
