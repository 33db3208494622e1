"""NetnsCompute + LinuxBridgeNetwork against the real kernel.

Every test gets its own random tag (bridge, namespace and interface names) and a
/24 pair in 198.18.200-255 reserved with a file lock, so xdist workers and a
running portus never collide. Traffic only goes to addresses on the test's own
bridges, after checking that they exist. The fixture removes everything the
test made, whether it passed or not.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portus.amphora import cgroup
from portus.common.config import AmphoraConfig, ManagementConfig, NetworkConfig, SubnetConfig
from portus.drivers import ipcmd
from portus.drivers.compute.base import AmphoraBuild, VipPlug
from portus.drivers.compute.netns import NetnsCompute
from portus.drivers.network.linux_bridge import LinuxBridgeNetwork
from tests.e2e.harness import CGROUPS, NoNetworks, remove_cgroups, reserve_networks

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None,
                       reason="needs root and iproute2"),
]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
AGENT_PORT = 8080
HELLO = b"hello from the amphora\n"


@dataclasses.dataclass
class Lab:
    tag: str
    mgmt: ManagementConfig
    subnet: SubnetConfig
    amp_cfg: AmphoraConfig
    network: LinuxBridgeNetwork
    compute: NetnsCompute
    base_root: Path
    extra_pids: list[int] = dataclasses.field(default_factory=list)

    def spec(self, host: int = 10, vips: int = 1, amphora_id: str | None = None,
             agent: bool = True) -> AmphoraBuild:
        amp_id = amphora_id or str(uuid.uuid4())
        base_dir = str(self.base_root / amp_id)
        mgmt_net, vip_net = self.mgmt_network, self.subnet.network
        plugs = [VipPlug(self.subnet.bridge, str(vip_net.network_address + host + 100 + i),
                         vip_net.prefixlen, self.subnet.gateway) for i in range(vips)]
        argv = [sys.executable, "-m", "http.server", "--bind", "0.0.0.0",
                "--directory", base_dir, str(AGENT_PORT)] if agent else None
        return AmphoraBuild(
            amphora_id=amp_id, namespace=self.amp_cfg.namespace_prefix + amp_id,
            base_dir=base_dir, mgmt_ip=str(mgmt_net.network_address + host),
            mgmt_prefixlen=mgmt_net.prefixlen, mgmt_bridge=self.mgmt.bridge, vip_plugs=plugs,
            agent_config={"amphora_id": amp_id, "port": AGENT_PORT},
            files={"hello.txt": HELLO, "certs/key.pem": b"not really a key\n"},
            agent_argv=argv)

    @property
    def mgmt_network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.mgmt.cidr)

    def bridges_exist(self) -> bool:
        return all(ipcmd.is_bridge(b) for b in (self.mgmt.bridge, self.subnet.bridge))

    def our_links(self) -> list[str]:
        pattern = re.escape(self.amp_cfg.interface_prefix) + r"[0-9a-f]{8}(m|v[0-9]+)"
        return [n for n in ipcmd.host_links() if re.fullmatch(pattern, n)]

    def our_namespaces(self) -> list[str]:
        return [n for n in ipcmd.list_netns() if n.startswith(self.amp_cfg.namespace_prefix)]

    def http_get(self, address: str, path: str = "/hello.txt", timeout: float = 15.0) -> bytes:
        """GET from an address on this lab's bridges (never anywhere else)."""
        addr = ipaddress.ip_address(address)
        assert addr in self.mgmt_network or addr in self.subnet.network, address
        assert self.bridges_exist(), "refusing to send traffic: test bridges missing"
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection((address, AGENT_PORT), timeout=1.0) as conn:
                    conn.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
                    data = b""
                    while chunk := conn.recv(65536):
                        data += chunk
                return data.split(b"\r\n\r\n", 1)[1]
            except (OSError, IndexError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def _kill_and_wait(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while any(ipcmd.pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)


def _cleanup(lab: Lab) -> None:
    """Force-remove whatever the test left, then check nothing is left."""
    host_key = ipcmd.pid_netns_key(os.getpid())
    strays = [p for p in lab.extra_pids
              if ipcmd.pid_alive(p) and ipcmd.pid_netns_key(p) not in (None, host_key)]
    for ns in lab.our_namespaces():
        strays += ipcmd.netns_pids(ns)
    _kill_and_wait(strays)
    remove_cgroups(lab.our_namespaces())
    for ns in lab.our_namespaces():
        ipcmd.netns_delete(ns)
    lab.network.unplug_many(lab.our_links())
    lab.network.teardown_networks()
    assert not lab.our_namespaces() and not lab.our_links()
    assert not any(ipcmd.link_exists(b) for b in (lab.mgmt.bridge, lab.subnet.bridge))


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    tag = secrets.token_hex(3)
    try:
        third, lock_fd = reserve_networks()
    except NoNetworks as exc:
        pytest.skip(str(exc))
    try:
        mgmt = ManagementConfig(bridge=f"ptm{tag}", cidr=f"198.18.{third}.0/24")
        mgmt.finish()
        subnet = SubnetConfig(name=f"pt{tag}", cidr=f"198.18.{third + 1}.0/24",
                              bridge=f"pts{tag}")
        subnet.finish(0)
        amp_cfg = AmphoraConfig(namespace_prefix=f"ptest-{tag}-",
                                interface_prefix=f"t{tag[:3]}")
        network = LinuxBridgeNetwork(NetworkConfig(management=mgmt, subnets=[subnet]))
        lab = Lab(tag, mgmt, subnet, amp_cfg, network, NetnsCompute(amp_cfg, network),
                  tmp_path / "amphorae")
        try:
            network.ensure_networks()
            yield lab
        finally:
            _cleanup(lab)
    finally:
        os.close(lock_fd)


def _ns_state(lab: Lab, spec: AmphoraBuild) -> dict[str, Any]:
    addrs = json.loads(ipcmd.run(["-j", "addr", "show"], netns=spec.namespace))
    return {
        "pids": ipcmd.netns_pids(spec.namespace),
        "agent": lab.compute.agent_pid(spec.namespace, spec.base_dir),
        "host_links": sorted(lab.compute.host_ifnames(spec.amphora_id)),
        "ns_addrs": sorted((a["ifname"], i["local"], i["prefixlen"], a["operstate"])
                           for a in addrs for i in a["addr_info"] if i["family"] == "inet"),
        "routes": ipcmd.run(["route", "show"], netns=spec.namespace),
        "files": sorted(str(p.relative_to(spec.base_dir)) for p in Path(spec.base_dir).rglob("*")
                        if p.name != "agent.log"),
    }


def _stat_fields(pid: int) -> list[str]:
    line = Path(f"/proc/{pid}/stat").read_text()
    return line[line.rindex(")") + 2:].split()  # [state, ppid, pgrp, session, ...]


# -- tests ----------------------------------------------------------------------------

def test_ensure_networks_is_idempotent(lab: Lab) -> None:
    lab.network.ensure_networks()
    for bridge, gateway in ((lab.mgmt.bridge, lab.mgmt.gateway),
                            (lab.subnet.bridge, lab.subnet.gateway)):
        sys_bridge = Path("/sys/class/net", bridge, "bridge")
        assert (sys_bridge / "stp_state").read_text().strip() == "0"
        assert (sys_bridge / "forward_delay").read_text().strip() == "0"
        assert Path("/sys/class/net", bridge, "address").read_text().strip() == \
            ipcmd.bridge_mac(bridge)
        addrs = json.loads(ipcmd.run(["-j", "-4", "addr", "show", "dev", bridge]))
        assert [i["local"] for i in addrs[0]["addr_info"]] == [gateway]


def test_build_serves_mgmt_and_vip_and_is_idempotent(lab: Lab) -> None:
    spec = lab.spec(vips=2)
    assert lab.compute.build(spec) == spec.namespace
    assert lab.compute.exists(spec.namespace)
    assert lab.compute.list_amphora_namespaces() == [spec.namespace]

    assert lab.http_get(spec.mgmt_ip) == HELLO
    for vip in spec.vip_plugs:
        assert lab.http_get(vip.address) == HELLO

    # Namespace settings and layout.
    assert ipcmd.run_in_netns(spec.namespace, lambda: Path(
        "/proc/sys/net/ipv4/ip_nonlocal_bind").read_text().strip()) == "1"
    assert set(ipcmd.netns_links(spec.namespace)) == {"lo", "mgmt0", "vip0", "vip1"}
    assert sorted(lab.compute.host_ifnames(spec.amphora_id)) == sorted(
        [lab.compute.mgmt_host_ifname(spec.amphora_id)]
        + [lab.compute.vip_host_ifname(spec.amphora_id, i) for i in (0, 1)])
    for name in lab.compute.host_ifnames(spec.amphora_id):
        assert len(name) <= 15 and ipcmd.link_master(name) in (lab.mgmt.bridge, lab.subnet.bridge)
    assert f"default via {lab.subnet.gateway} dev vip0" in ipcmd.run(
        ["route", "show"], netns=spec.namespace)

    # Files: private directory, private files, agent.json = agent_config.
    base = Path(spec.base_dir)
    assert base.stat().st_mode & 0o777 == 0o700
    for rel in ("hello.txt", "certs/key.pem", "agent.json", "agent.pid"):
        assert (base / rel).stat().st_mode & 0o777 == 0o600, rel
    assert json.loads((base / "agent.json").read_text()) == spec.agent_config

    before = _ns_state(lab, spec)
    assert before["pids"] == [before["agent"]]
    assert lab.compute.build(spec) == spec.namespace
    assert _ns_state(lab, spec) == before  # same state, still exactly one agent
    assert lab.http_get(spec.vip_plugs[1].address) == HELLO


def test_rebuild_with_fewer_vips_removes_the_extra_plug(lab: Lab) -> None:
    spec = lab.spec(vips=2, agent=False)
    lab.compute.build_network(spec)
    extra = lab.compute.vip_host_ifname(spec.amphora_id, 1)
    assert ipcmd.link_exists(extra)
    spec.vip_plugs = spec.vip_plugs[:1]
    lab.compute.build_network(spec)
    assert not ipcmd.link_exists(extra)
    assert set(ipcmd.netns_links(spec.namespace)) == {"lo", "mgmt0", "vip0"}


_CONTROLLER = """
import json, sys
from portus.amphora import cgroup
from portus.common.config import AmphoraConfig, ManagementConfig, NetworkConfig, SubnetConfig
from portus.drivers.compute.base import AmphoraBuild, VipPlug
from portus.drivers.compute.netns import NetnsCompute
from portus.drivers.network.linux_bridge import LinuxBridgeNetwork
d = json.loads(sys.argv[1])
spec = AmphoraBuild(**d["spec"])
spec.vip_plugs = [VipPlug(**v) for v in d["spec"]["vip_plugs"]]
spec.files = {k: v.encode() for k, v in d["spec"]["files"].items()}
net = LinuxBridgeNetwork(NetworkConfig(management=ManagementConfig(**d["mgmt"]),
                                       subnets=[SubnetConfig(**d["subnet"])]))
print(NetnsCompute(AmphoraConfig(**d["amp"]), net).build(spec))
"""


def test_agent_outlives_the_controller_and_delete_leaves_nothing(lab: Lab) -> None:
    spec = lab.spec()
    payload = {
        "spec": {**dataclasses.asdict(spec),
                 "files": {k: v.decode() for k, v in spec.files.items()}},
        "mgmt": dataclasses.asdict(lab.mgmt), "subnet": dataclasses.asdict(lab.subnet),
        "amp": dataclasses.asdict(lab.amp_cfg),
    }
    controller = subprocess.run(
        [sys.executable, "-c", _CONTROLLER, json.dumps(payload)], capture_output=True,
        text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    assert controller.returncode == 0, controller.stderr
    assert controller.stdout.strip() == spec.namespace

    # The controller process is gone; its agent is not.
    pid = int(Path(spec.base_dir, "agent.pid").read_text())
    lab.extra_pids.append(pid)
    # `ip netns exec` may not have entered the namespace yet when the controller exits.
    deadline = time.monotonic() + 5
    while not ipcmd.pid_in_netns(pid, spec.namespace) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ipcmd.pid_alive(pid) and ipcmd.pid_in_netns(pid, spec.namespace)
    state, _ppid, _pgrp, session = _stat_fields(pid)[:4]
    assert int(session) == pid  # leader of its own session
    assert os.readlink(f"/proc/{pid}/fd/0") == "/dev/null"
    assert os.readlink(f"/proc/{pid}/fd/1") == str(Path(spec.base_dir, "agent.log"))
    assert lab.http_get(spec.mgmt_ip) == HELLO
    assert lab.http_get(spec.vip_plugs[0].address) == HELLO

    # A second controller adopts the running agent instead of starting another.
    assert lab.compute.build(spec) == spec.namespace
    assert ipcmd.netns_pids(spec.namespace) == [pid]

    # A daemon that detached itself inside the amphora (like haproxy -D).
    stray = subprocess.Popen(["ip", "netns", "exec", spec.namespace, "sleep", "300"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    lab.extra_pids.append(stray.pid)
    deadline = time.monotonic() + 5
    while not ipcmd.pid_in_netns(stray.pid, spec.namespace) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(ipcmd.netns_pids(spec.namespace)) == sorted([pid, stray.pid])

    links = lab.compute.host_ifnames(spec.amphora_id)
    assert len(links) == 2
    lab.compute.delete(spec.amphora_id, spec.namespace, spec.base_dir)
    stray.wait(timeout=5)
    assert not ipcmd.pid_alive(pid) and not ipcmd.pid_alive(stray.pid)
    assert not lab.compute.exists(spec.namespace) and not lab.our_namespaces()
    assert not any(ipcmd.link_exists(n) for n in links) and not lab.our_links()
    assert not Path(spec.base_dir).exists()
    lab.compute.delete(spec.amphora_id, spec.namespace, spec.base_dir)  # idempotent

    lab.network.teardown_networks()
    assert not ipcmd.link_exists(lab.mgmt.bridge) and not ipcmd.link_exists(lab.subnet.bridge)


@pytest.mark.skipif(CGROUPS is None, reason="no cgroup cpu and memory controllers")
def test_build_puts_the_agent_in_a_limited_group_that_delete_removes(lab: Lab) -> None:
    assert CGROUPS is not None
    spec = dataclasses.replace(lab.spec(), vcpus=0.25, ram_mb=96)
    lab.compute.build(spec)
    dirs = cgroup.group_dirs(CGROUPS, f"{lab.amp_cfg.cgroup_parent}/{spec.namespace}")
    pid = lab.compute.agent_pid(spec.namespace, spec.base_dir)
    assert pid is not None
    # The agent joins the group itself, through the descriptors it was given.
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert any(e.startswith(cgroup.FDS_ENV.encode() + b"=") for e in environ)
    fds = cgroup.open_dirs(dirs)
    try:
        usage = cgroup.Usage(fds)
        assert usage.vcpus() == 0.25 and usage.memory_limit() == 96 << 20
    finally:
        for fd in set(fds.values()):
            os.close(fd)
    lab.compute.delete(spec.amphora_id, spec.namespace, spec.base_dir)
    assert not any(Path(d).exists() for d in dirs.values())


def test_restart_agent_replaces_the_process(lab: Lab) -> None:
    spec = lab.spec()
    lab.compute.build(spec)
    assert lab.http_get(spec.mgmt_ip) == HELLO
    old = lab.compute.agent_pid(spec.namespace, spec.base_dir)
    assert old is not None
    lab.compute.restart_agent(spec)
    new = lab.compute.agent_pid(spec.namespace, spec.base_dir)
    assert new is not None and new != old and not ipcmd.pid_alive(old)
    assert lab.http_get(spec.mgmt_ip) == HELLO
    assert ipcmd.netns_pids(spec.namespace) == [new]


def test_agent_that_died_is_started_again_by_build(lab: Lab) -> None:
    spec = lab.spec()
    lab.compute.build(spec)
    old = lab.compute.agent_pid(spec.namespace, spec.base_dir)
    assert old is not None
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while ipcmd.pid_alive(old) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert lab.compute.agent_pid(spec.namespace, spec.base_dir) is None
    lab.compute.build(spec)
    assert lab.http_get(spec.vip_plugs[0].address) == HELLO


def test_delete_of_unknown_amphora_is_a_no_op(lab: Lab) -> None:
    amp_id = str(uuid.uuid4())
    lab.compute.delete(amp_id, lab.amp_cfg.namespace_prefix + amp_id,
                       str(lab.base_root / amp_id))
    assert not lab.compute.exists(lab.amp_cfg.namespace_prefix + amp_id)


def test_many_amphorae_network_build_and_delete(lab: Lab) -> None:
    """Several amphorae side by side; prints the network build time (no agent)."""
    specs = [lab.spec(host=20 + i, agent=False) for i in range(8)]
    timings = []
    for spec in specs:
        start = time.perf_counter()
        lab.compute.build_network(spec)
        timings.append((time.perf_counter() - start) * 1000)
    again = []
    for spec in specs:
        start = time.perf_counter()
        lab.compute.build_network(spec)
        again.append((time.perf_counter() - start) * 1000)
    assert sorted(lab.compute.list_amphora_namespaces()) == sorted(s.namespace for s in specs)
    assert len(lab.our_links()) == 2 * len(specs)
    print(f"\nbuild_network ms: fresh median {sorted(timings)[len(timings) // 2]:.1f} "
          f"max {max(timings):.1f}; repeat median {sorted(again)[len(again) // 2]:.1f}")
    for spec in specs:
        lab.compute.delete(spec.amphora_id, spec.namespace, spec.base_dir)
    assert not lab.our_namespaces() and not lab.our_links()
