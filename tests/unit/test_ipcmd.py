"""Pure logic of the Linux drivers: naming, validation, parsing, command building."""
from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

from portus.common.config import ManagementConfig, NetworkConfig, SubnetConfig
from portus.drivers import ipcmd
from portus.drivers.compute.base import AmphoraBuild
from portus.drivers.compute.netns import _check_base_dir, _safe_relpath
from portus.drivers.compute.noop import NoopCompute
from portus.drivers.ipcmd import IpCommandError
from portus.drivers.network.base import Plug
from portus.drivers.network.linux_bridge import LinuxBridgeNetwork
from portus.drivers.network.noop import NoopNetwork

AMP_ID = "3f2b9c1e-7a44-4d2b-9e0f-5a6b7c8d9e0f"


# -- interface naming ----------------------------------------------------------------

def test_default_prefix_uses_ten_hex_chars() -> None:
    assert ipcmd.ifname_stem("pa", AMP_ID) == "pa3f2b9c1e7a"
    assert ipcmd.mgmt_host_ifname("pa", AMP_ID) == "pa3f2b9c1e7am"
    assert ipcmd.vip_host_ifname("pa", AMP_ID, 0) == "pa3f2b9c1e7av0"


@pytest.mark.parametrize("prefix", ["p", "pa", "tab", "abcdef"])
def test_names_fit_ifnamsiz_for_every_allowed_prefix(prefix: str) -> None:
    for index in (0, 9, 10, 99):
        assert len(ipcmd.vip_host_ifname(prefix, AMP_ID, index)) <= 15
    assert len(ipcmd.mgmt_host_ifname(prefix, AMP_ID)) <= 15
    assert len(ipcmd.ifname_stem(prefix, AMP_ID)) == 12


def test_names_are_deterministic_and_distinct_per_amphora() -> None:
    other = str(uuid.uuid4())
    assert ipcmd.mgmt_host_ifname("pa", AMP_ID) == ipcmd.mgmt_host_ifname("pa", AMP_ID)
    assert ipcmd.mgmt_host_ifname("pa", AMP_ID) != ipcmd.mgmt_host_ifname("pa", other)


@pytest.mark.parametrize("prefix", ["", "abcdefg", "Pa", "1a", "p a", "p#"])
def test_bad_interface_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError):
        ipcmd.ifname_stem(prefix, AMP_ID)


@pytest.mark.parametrize("name", [ipcmd.vip_host_ifname, ipcmd.member_host_ifname])
def test_plug_index_bounds(name: Any) -> None:
    assert len(name("abcdef", AMP_ID, 99)) <= 15
    with pytest.raises(ValueError):
        name("pa", AMP_ID, 100)
    with pytest.raises(ValueError):
        name("pa", AMP_ID, -1)


def test_member_port_names_are_the_amphoras_and_distinct_from_vip_ones() -> None:
    stem = ipcmd.ifname_stem("pa", AMP_ID)
    assert ipcmd.member_host_ifname("pa", AMP_ID, 0) == "pa3f2b9c1e7ap0"
    for name in (ipcmd.mgmt_host_ifname("pa", AMP_ID), ipcmd.vip_host_ifname("pa", AMP_ID, 7),
                 ipcmd.member_host_ifname("pa", AMP_ID, 42)):
        assert ipcmd.is_amphora_ifname(name, stem)
    assert ipcmd.member_host_ifname("pa", AMP_ID, 1) != ipcmd.vip_host_ifname("pa", AMP_ID, 1)
    for other in (stem + "x0", stem + "p123", stem + "p", "x" + stem[1:] + "p0"):
        assert not ipcmd.is_amphora_ifname(other, stem)


def test_non_hex_ids_are_hashed_deterministically() -> None:
    stem = ipcmd.ifname_stem("pa", "not-a-uuid")
    assert stem == ipcmd.ifname_stem("pa", "not-a-uuid")
    assert len(stem) == 12 and all(c in "0123456789abcdef" for c in stem[2:])


def test_is_amphora_ifname_matches_exactly_our_names() -> None:
    stem = ipcmd.ifname_stem("pa", AMP_ID)
    assert ipcmd.is_amphora_ifname(stem + "m", stem)
    assert ipcmd.is_amphora_ifname(stem + "v0", stem)
    assert ipcmd.is_amphora_ifname(stem + "v42", stem)
    for name in (stem, stem + "x", stem + "v", stem + "v123", stem + "mm", "x" + stem + "m"):
        assert not ipcmd.is_amphora_ifname(name, stem)


def test_bridge_mac_is_stable_local_unicast() -> None:
    mac = ipcmd.bridge_mac("portus-mgmt")
    assert mac == ipcmd.bridge_mac("portus-mgmt") != ipcmd.bridge_mac("portus-demo")
    first = int(mac.split(":")[0], 16)
    assert first & 0x02 and not first & 0x01


# -- validation ------------------------------------------------------------------------

@pytest.mark.parametrize("token", ["a b", "a#b", "a'b", 'a"b', "", "a\nb", "a;b"])
def test_unsafe_batch_tokens_are_refused(token: str) -> None:
    with pytest.raises(ValueError):
        ipcmd.check_token(token)


@pytest.mark.parametrize("token", ["198.18.0.1/24", "fd00::1/64", "pa3f2b9c1e7av0", "0.0.0.0/0"])
def test_safe_batch_tokens(token: str) -> None:
    assert ipcmd.check_token(token) == token


@pytest.mark.parametrize("name", ["", "a" * 16, "a/b", "a b", ".", ".."])
def test_bad_ifnames(name: str) -> None:
    with pytest.raises(ValueError):
        ipcmd.check_ifname(name)


@pytest.mark.parametrize("name", ["", "a/b", "..", "a b"])
def test_bad_netns_names(name: str) -> None:
    with pytest.raises(ValueError):
        ipcmd.check_netns_name(name)


@pytest.mark.parametrize("name", ["", "/etc/x", "../x", "a/../b", "agent.pid", "agent.json", "./a", "a//b", "a/"])
def test_amphora_file_names_cannot_escape_or_clobber(name: str) -> None:
    with pytest.raises(ValueError):
        _safe_relpath(name)


def test_amphora_file_names_may_use_subdirectories() -> None:
    assert str(_safe_relpath("certs/server.pem")) == "certs/server.pem"


@pytest.mark.parametrize("path", ["/", "/var", "relative/dir", "/var/lib/../x"])
def test_base_dir_guard(path: str) -> None:
    with pytest.raises(ValueError):
        _check_base_dir(path)


# -- /proc parsing ---------------------------------------------------------------------

def test_stat_state_survives_odd_comm() -> None:
    assert ipcmd.parse_stat_state("42 (a) b (c)) S 1 42 42 0") == "S"
    assert ipcmd.parse_stat_state("7 (haproxy) Z 1 7 7 0") == "Z"


def test_pid_alive() -> None:
    assert ipcmd.pid_alive(os.getpid())
    assert not ipcmd.pid_alive(0)
    assert not ipcmd.pid_alive(2**22 + 12345)  # above pid_max


# -- command building ----------------------------------------------------------------

def test_batch_joins_lines_and_names_the_failing_one(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    def fake_run(argv: list[str], stdin: str | None = None) -> str:
        seen["argv"], seen["stdin"] = argv, stdin
        raise IpCommandError(argv, "RTNETLINK answers: File exists\nCommand failed -:2", 1)

    monkeypatch.setattr(ipcmd, "_run", fake_run)
    with pytest.raises(IpCommandError) as err:
        ipcmd.batch([["link", "set", "lo", "up"], ["addr", "add", "10.0.0.1/24", "dev", "x"]],
                    netns="ns1")
    assert seen["argv"] == ["ip", "-n", "ns1", "-batch", "-"]
    assert seen["stdin"] == "link set lo up\naddr add 10.0.0.1/24 dev x\n"
    assert "addr add 10.0.0.1/24 dev x" in str(err.value)
    assert "File exists" in err.value.stderr


def test_batch_of_nothing_spawns_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ipcmd, "_run", lambda *a, **k: pytest.fail("spawned"))
    ipcmd.batch([])


def _net_cfg() -> NetworkConfig:
    mgmt = ManagementConfig(bridge="tm0", cidr="198.18.250.0/24")
    mgmt.finish()
    subnet = SubnetConfig(name="s", cidr="198.18.251.0/24", bridge="ts0", uplink="eth9")
    subnet.finish(0)
    return NetworkConfig(management=mgmt, subnets=[subnet])


def test_ensure_networks_commands_for_fresh_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ipcmd, "link_exists", lambda name, netns=None: name == "eth9")
    cmds = LinuxBridgeNetwork(_net_cfg())._ensure_commands()
    text = [" ".join(c) for c in cmds]
    assert (f"link add name tm0 address {ipcmd.bridge_mac('tm0')} type bridge stp_state 0 "
            "forward_delay 0") in text
    assert "addr replace 198.18.250.1/24 dev tm0" in text
    assert "addr replace 198.18.251.1/24 dev ts0" in text
    assert "link set dev eth9 master ts0 up" in text
    assert text.index("link set dev ts0 up") > text.index(next(t for t in text if "add name ts0" in t))


def test_ensure_networks_adjusts_existing_bridges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ipcmd, "link_exists", lambda name, netns=None: True)
    monkeypatch.setattr(ipcmd, "is_bridge", lambda name: True)
    text = [" ".join(c) for c in LinuxBridgeNetwork(_net_cfg())._ensure_commands()]
    assert "link set dev tm0 type bridge stp_state 0 forward_delay 0" in text
    assert not any(t.startswith("link add") for t in text)


def test_missing_uplink_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ipcmd, "link_exists", lambda name, netns=None: False)
    with pytest.raises(IpCommandError, match="uplink eth9"):
        LinuxBridgeNetwork(_net_cfg())._ensure_commands()


# -- noop twins ------------------------------------------------------------------------

def test_noop_network_records_plugs() -> None:
    net = NoopNetwork()
    net.plug("ns", "h0", "mgmt0", "br", "198.18.0.5", 24)
    net.plug_many("ns", [Plug("h1", "vip0", "br2", "198.18.1.5", 24, "198.18.1.1")])
    assert set(net.plugged) == {"h0", "h1"}
    net.unplug_many(["h0", "h1"])
    assert not net.plugged and [c[0] for c in net.calls] == ["plug", "plug_many", "unplug", "unplug"]


def test_noop_compute_lifecycle() -> None:
    compute = NoopCompute(namespace_prefix="portus-amp-")
    spec = AmphoraBuild(AMP_ID, "portus-amp-" + AMP_ID, "/tmp/x/y", "198.18.0.9", 24, "br")
    assert compute.build(spec) == spec.namespace
    pid = compute.agent_pid(spec.namespace, spec.base_dir)
    compute.build(spec)
    assert compute.agent_pid(spec.namespace, spec.base_dir) == pid  # idempotent
    compute.restart_agent(spec)
    assert compute.agent_pid(spec.namespace, spec.base_dir) != pid
    assert compute.list_amphora_namespaces() == [spec.namespace]
    compute.delete(AMP_ID, spec.namespace, spec.base_dir)
    compute.delete(AMP_ID, spec.namespace, spec.base_dir)
    assert not compute.exists(spec.namespace) and compute.list_amphora_namespaces() == []
