"""Network driver that does nothing but remember what it was asked (tests)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from portus.drivers.network.base import NetworkDriver, Plug


class NoopNetwork(NetworkDriver):
    def __init__(self, *_: Any, **__: Any) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        # host_ifname -> plug, so tests can assert on what is "attached".
        self.plugged: dict[str, Plug] = {}
        self.namespaces: dict[str, str] = {}  # host_ifname -> namespace

    def ensure_networks(self) -> None:
        self.calls.append(("ensure_networks", ()))

    def teardown_networks(self) -> None:
        self.calls.append(("teardown_networks", ()))

    def plug(self, namespace: str, host_ifname: str, ns_ifname: str, bridge: str,
             address: str, prefixlen: int) -> None:
        self.calls.append(("plug", (namespace, host_ifname, ns_ifname, bridge, address,
                                    prefixlen)))
        self._record(namespace, Plug(host_ifname, ns_ifname, bridge, address, prefixlen))

    def plug_many(self, namespace: str, plugs: Sequence[Plug]) -> None:
        self.calls.append(("plug_many", (namespace, tuple(plugs))))
        for plug in plugs:
            self._record(namespace, plug)

    def unplug(self, host_ifname: str) -> None:
        self.calls.append(("unplug", (host_ifname,)))
        self.plugged.pop(host_ifname, None)
        self.namespaces.pop(host_ifname, None)

    def _record(self, namespace: str, plug: Plug) -> None:
        self.plugged[plug.host_ifname] = plug
        self.namespaces[plug.host_ifname] = namespace
