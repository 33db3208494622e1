"""Linux bridge network driver: one bridge per configured network on this host.

The host holds each network's gateway address on its bridge, so it reaches the
amphorae's management addresses and VIPs directly; an uplink NIC put into a
bridge extends that network to the LAN.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from portus.common.config import NetworkConfig
from portus.drivers import ipcmd
from portus.drivers.ipcmd import IpCommandError
from portus.drivers.network.base import NetworkDriver, Plug


@dataclass(frozen=True)
class _Net:
    bridge: str
    gateway: str  # "address/prefixlen" put on the bridge
    uplink: str


def _gateway_iface(cidr: str, gateway: str) -> str:
    net = ipaddress.ip_network(cidr, strict=True)
    addr = gateway or str(next(net.hosts()))
    if ipaddress.ip_address(addr) not in net:
        raise ValueError(f"gateway {addr} is not inside {cidr}")
    return f"{addr}/{net.prefixlen}"


class LinuxBridgeNetwork(NetworkDriver):
    def __init__(self, cfg: NetworkConfig) -> None:
        self.cfg = cfg

    def _nets(self) -> list[_Net]:
        mgmt = self.cfg.management
        nets = [_Net(mgmt.bridge, _gateway_iface(mgmt.cidr, mgmt.gateway), "")]
        for subnet in self.cfg.subnets:
            bridge = subnet.bridge or ("pbr-" + subnet.name)[:15]
            nets.append(_Net(bridge, _gateway_iface(subnet.cidr, subnet.gateway), subnet.uplink))
        for net in nets:
            ipcmd.check_ifname(net.bridge)
            if net.uplink:
                ipcmd.check_ifname(net.uplink)
        return nets

    def bridges(self) -> list[str]:
        """The bridges this driver manages, management bridge first."""
        return list(dict.fromkeys(net.bridge for net in self._nets()))

    # -- networks -------------------------------------------------------------

    def ensure_networks(self) -> None:
        try:
            ipcmd.batch(self._ensure_commands())
        except IpCommandError:
            # Another process may have created a bridge between our check and
            # our `link add`; the second pass sees it and only adjusts it.
            ipcmd.batch(self._ensure_commands())

    def _ensure_commands(self) -> list[list[str]]:
        nets = self._nets()
        cmds: list[list[str]] = []
        bridge_opts = ["type", "bridge", "stp_state", "0", "forward_delay", "0"]
        for bridge in dict.fromkeys(net.bridge for net in nets):
            if ipcmd.link_exists(bridge):
                if not ipcmd.is_bridge(bridge):
                    raise IpCommandError(["ensure_networks"], f"{bridge} exists and is not a bridge")
                cmds.append(["link", "set", "dev", bridge] + bridge_opts)
            else:
                # Explicit MAC: see ipcmd.bridge_mac.
                cmds.append(["link", "add", "name", bridge, "address",
                             ipcmd.bridge_mac(bridge)] + bridge_opts)
            cmds.append(["link", "set", "dev", bridge, "up"])
        for net in nets:
            cmds.append(["addr", "replace", net.gateway, "dev", net.bridge])
            if net.uplink:
                if not ipcmd.link_exists(net.uplink):
                    raise IpCommandError(["ensure_networks"], f"uplink {net.uplink} does not exist")
                cmds.append(["link", "set", "dev", net.uplink, "master", net.bridge, "up"])
        return cmds

    def teardown_networks(self) -> None:
        present = [b for b in self.bridges() if ipcmd.link_exists(b)]
        try:
            ipcmd.batch([["link", "del", "dev", b] for b in present], force=True)
        except IpCommandError:
            pass  # judged by what is left below
        left = [b for b in present if ipcmd.link_exists(b)]
        if left:
            raise IpCommandError(["teardown_networks"], f"bridges still present: {left}")

    # -- plugging ---------------------------------------------------------------

    def plug(self, namespace: str, host_ifname: str, ns_ifname: str, bridge: str,
             address: str, prefixlen: int) -> None:
        self.plug_many(namespace, [Plug(host_ifname, ns_ifname, bridge, address, prefixlen)])

    def plug_many(self, namespace: str, plugs: Sequence[Plug]) -> None:
        """At most three `ip` processes whatever the number of plugs: an optional
        cleanup of stale names, the host side, the namespace side."""
        if not ipcmd.netns_exists(namespace):
            raise IpCommandError(["plug", namespace], "namespace does not exist")
        ns_links = ipcmd.netns_links(namespace)
        ns_cleanup: list[list[str]] = []
        host_cmds: list[list[str]] = []
        ns_cmds: list[list[str]] = []
        for plug in plugs:
            host, inner = ipcmd.check_ifname(plug.host_ifname), ipcmd.check_ifname(plug.ns_ifname)
            if not ipcmd.is_bridge(plug.bridge):
                raise IpCommandError(["plug", host],
                                     f"bridge {plug.bridge} missing (ensure_networks first)")
            peer, inner_index = ipcmd.link_peer_index(host), ns_links.get(inner)
            paired = peer is not None and peer == inner_index
            if not paired:
                # Leftovers (e.g. a veth whose peer sits in an older, orphaned
                # namespace of the same name) would make `link add` fail.
                if peer is not None:
                    host_cmds.append(["link", "del", "dev", host])
                if inner_index is not None:
                    ns_cleanup.append(["link", "del", "dev", inner])
                # Same MTU as the bridge: a bridge runs at its smallest port MTU.
                mtu = str(ipcmd.link_mtu(plug.bridge) or 1500)
                host_cmds.append(["link", "add", "name", host, "mtu", mtu, "type", "veth",
                                  "peer", "name", inner, "mtu", mtu, "netns", namespace])
            host_cmds.append(["link", "set", "dev", host, "master", plug.bridge, "up"])
            if plug.address is not None:
                # `replace` is idempotent; other addresses (e.g. keepalived's) are left alone.
                iface = ipaddress.ip_interface(f"{plug.address}/{plug.prefixlen}")
                nodad = ["nodad"] if iface.version == 6 else []
                ns_cmds.append(["addr", "replace", str(iface), "dev", inner] + nodad)
            ns_cmds.append(["link", "set", "dev", inner, "up"])
            if plug.gateway:
                gw = ipaddress.ip_address(plug.gateway)
                default = "0.0.0.0/0" if gw.version == 4 else "::/0"
                ns_cmds.append(["route", "replace", default, "via", str(gw), "dev", inner])
        ipcmd.batch(ns_cleanup, netns=namespace)
        ipcmd.batch(host_cmds)
        ipcmd.batch(ns_cmds, netns=namespace)

    def unplug(self, host_ifname: str) -> None:
        self.unplug_many([host_ifname])

    def unplug_many(self, host_ifnames: Sequence[str]) -> None:
        present = [n for n in host_ifnames if ipcmd.link_exists(n)]
        if not present:
            return
        # -force: one already gone (a racing delete) must not stop the others.
        try:
            ipcmd.batch([["link", "del", "dev", n] for n in present], force=True)
        except IpCommandError:
            left = [n for n in present if ipcmd.link_exists(n)]
            if left:
                raise
