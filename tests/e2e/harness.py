"""End-to-end harness: a real `portus up` in a subprocess, backends in namespaces.

Every instance gets its own tag, bridges, namespace prefix, ports and a /24 pair in
198.18.200-255 reserved with a file lock, so xdist workers and a running portus never
collide. Traffic goes only to addresses on the instance's own bridges, after
checking that they exist. `cleanup()` removes everything, whatever happened.
"""
from __future__ import annotations

import fcntl
import ipaddress
import itertools
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

from portus.amphora import cgroup
from portus.common.config import ManagementConfig, NetworkConfig, SubnetConfig
from portus.drivers import ipcmd
from portus.drivers.network.linux_bridge import LinuxBridgeNetwork

LOCK_DIR = Path("/tmp/portus-test-nets")


class NoNetworks(Exception):
    pass


def _used_networks() -> list[ipaddress.IPv4Network]:
    routes = json.loads(ipcmd.run(["-j", "-4", "route", "show", "table", "all"]) or "[]")
    return [ipaddress.IPv4Network(r["dst"], strict=False) for r in routes
            if r.get("dst") not in (None, "default")]


def reserve_networks() -> tuple[int, int]:
    """Pick 198.18.N.0/24 to 198.18.N+2.0/24, unused on the host, and hold an flock on
    them (released by the kernel even if pytest dies). Returns (N, lock fd)."""
    LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
    thirds = list(range(200, 254, 3))
    random.shuffle(thirds)
    used = _used_networks()
    for third in thirds:
        nets = [ipaddress.IPv4Network(f"198.18.{third + i}.0/24") for i in (0, 1, 2)]
        if any(n.overlaps(u) for n in nets for u in used):
            continue
        fd = os.open(LOCK_DIR / f"198.18.{third}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return third, fd
    raise NoNetworks("no three free /24s in 198.18.200.0-198.18.255.255")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def process_name(pid: int) -> str:
    """The command name of a process ("" when it is gone)."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def kill_and_wait(pids: list[int], sig: int = signal.SIGKILL, timeout: float = 5.0) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while any(ipcmd.pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)


# Where the host can limit amphorae, every lab defines this compute flavor.
CGROUPS = cgroup.detect()
COMPUTE_FLAVOR = "e2e-small"


def remove_cgroups(namespaces: list[str], parent: str = "portus") -> None:
    """Remove the control groups of these amphora namespaces (their processes dead)."""
    if CGROUPS is not None:
        for ns in namespaces:
            cgroup.remove(cgroup.group_dirs(CGROUPS, f"{parent}/{ns}"))


class Backend:
    """A tiny HTTP (or UDP echo) server in its own namespace on one of the instance's
    subnets (the VIP subnet unless told)."""

    def __init__(self, lab: "PortusLab", name: str, address: str, port: int = 8080,
                 tls_args: tuple[str, ...] = (), udp: bool = False,
                 subnet: SubnetConfig | None = None) -> None:
        self.lab = lab
        self.subnet = subnet or lab.subnet
        self.tls_args = tls_args  # (cert.pem [, client CA.pem]): serve HTTPS
        self.name = name
        self.address = address
        self.port = port
        self.udp = udp
        self.namespace = f"{lab.prefix}be-{name}"
        self.host_ifname = f"{lab.ifprefix}b{name}"[:15]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        ipcmd.netns_add(self.namespace)
        ipcmd.run(["link", "set", "lo", "up"], netns=self.namespace)
        self.lab.network.plug(self.namespace, self.host_ifname, "eth0", self.subnet.bridge,
                              self.address, self.subnet.network.prefixlen)
        log = open(self.lab.root / f"backend-{self.name}.log", "ab")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.namespace, sys.executable, "-m", "portus.demo.backend",
             self.name, str(self.port), self.address, *self.tls_args,
             *(["udp"] if self.udp else [])],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        wait_for(f"backend {self.name}", self._answers, 10)

    def _answers(self) -> bool:
        if self.udp:
            return self.lab.udp(self.address, self.port) is not None
        if not self.tls_args:
            return self.lab.get(self.address, self.port) is not None
        self.lab._check_target(self.address)
        try:
            socket.create_connection((self.address, self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(5)
            self.proc = None


class PortusLab:
    """One portus instance (`portus up` subprocess) with its own networks."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tag = secrets.token_hex(3)
        self.prefix = f"pt{self.tag}-"
        self.ifprefix = f"t{self.tag[:4]}"
        self.third, self._lock_fd = reserve_networks()
        self.mgmt = ManagementConfig(bridge=f"ptm{self.tag}", cidr=f"198.18.{self.third}.0/24")
        self.mgmt.finish()
        self.subnet = SubnetConfig(name="e2e", cidr=f"198.18.{self.third + 1}.0/24",
                                   bridge=f"pts{self.tag}")
        self.subnet.finish(0)
        # Members only: the amphorae reach it through a port of their own.
        self.backend_subnet = SubnetConfig(name="backends", cidr=f"198.18.{self.third + 2}.0/24",
                                           bridge=f"ptb{self.tag}")
        self.backend_subnet.finish(1)
        self.subnets = [self.subnet, self.backend_subnet]
        self.network = LinuxBridgeNetwork(NetworkConfig(management=self.mgmt,
                                                        subnets=self.subnets))
        # Short: haproxy's stats socket path must stay under 97 characters.
        self.run_dir = Path(f"/run/pt-{self.tag}")
        self.api_port = free_port()
        self.hm_port = free_port(socket.SOCK_DGRAM)
        self.config_path = root / "portus.toml"
        self.proc: subprocess.Popen[bytes] | None = None
        self.backends: list[Backend] = []
        self._udp_ports = itertools.count(random.randrange(20000, 50000, 1000))
        self._write_config()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def _write_config(self) -> None:
        self.config_path.write_text(f"""
data_dir = "{self.root / 'data'}"
run_dir = "{self.run_dir}"
log_level = "DEBUG"
[api]
bind_port = {self.api_port}
[controller]
lease_ttl = 4.0
sweep_interval = 0.5
amp_boot_timeout = 15.0
[health_manager]
bind_port = {self.hm_port}
heartbeat_interval = 0.5
heartbeat_timeout = 5.0
[house_keeping]
interval = 3600.0
[amphora]
namespace_prefix = "{self.prefix}amp-"
interface_prefix = "{self.ifprefix}"
[amphora.compute_flavors.{COMPUTE_FLAVOR}]
maxconn = 2000
vcpus = 0.5
ram_mb = 256
[network.management]
bridge = "{self.mgmt.bridge}"
cidr = "{self.mgmt.cidr}"
""" + "".join(f"""
[[network.subnets]]
name = "{subnet.name}"
cidr = "{subnet.cidr}"
bridge = "{subnet.bridge}"
""" for subnet in self.subnets))

    # -- the controller process --------------------------------------------------------
    def start(self) -> None:
        log = open(self.root / "portus.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "portus.cli", "--config", str(self.config_path), "up"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        wait_for("the portus API", self._api_up, 30)

    def _api_up(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"portus up exited with {self.proc.returncode}; "
                                 f"see {self.root / 'portus.log'}")
        try:
            with urllib.request.urlopen(self.endpoint + "/", timeout=1):
                return True
        except OSError:
            return False

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
            self.proc = None

    # -- traffic -----------------------------------------------------------------------
    def _check_target(self, address: str) -> None:
        addr = ipaddress.ip_address(address)
        subnet = next((s for s in self.subnets if addr in s.network), None)
        assert subnet is not None or addr in ipaddress.ip_network(self.mgmt.cidr), address
        bridge = subnet.bridge if subnet is not None else self.mgmt.bridge
        assert ipcmd.is_bridge(bridge), "refusing to send traffic: bridge missing"

    def get(self, address: str, port: int = 80, path: str = "/", timeout: float = 2.0) -> str | None:
        """One HTTP/1.0 request (a new connection) to an address on our bridges."""
        self._check_target(address)
        try:
            with socket.create_connection((address, port), timeout=timeout) as conn:
                conn.sendall(f"GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n".encode())
                data = b""
                while chunk := conn.recv(65536):
                    data += chunk
        except OSError:
            return None
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n")[0]:
            return None
        return body.decode().strip()

    def udp_socket(self, timeout: float = 1.0) -> socket.socket:
        """A UDP socket on a source port this lab has not used: a new flow for sure (an
        ephemeral port could be one an earlier flow used, whose conntrack entry would
        send it to that flow's member)."""
        while True:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind(("0.0.0.0", next(self._udp_ports)))
            except OSError:
                sock.close()
                continue
            sock.settimeout(timeout)
            return sock

    def udp(self, address: str, port: int, timeout: float = 1.0) -> str | None:
        """One datagram from a new flow and its answer, or None."""
        self._check_target(address)
        with self.udp_socket(timeout) as sock:
            try:
                sock.sendto(b"ping\n", (address, port))
                data, _ = sock.recvfrom(2048)
            except OSError:
                return None
        return data.decode().strip()

    def backend(self, name: str, index: int, port: int = 8080,
                tls_args: tuple[str, ...] = (), udp: bool = False,
                subnet: SubnetConfig | None = None) -> Backend:
        """A backend at the index-th address below the top of its subnet (the amphorae's
        own addresses come from the top of the allocation range, which ends lower)."""
        subnet = subnet or self.subnet
        address = str(subnet.network.broadcast_address - 1 - index)
        backend = Backend(self, name, address, port, tls_args, udp, subnet)
        self.backends.append(backend)
        backend.start()
        return backend

    # -- what exists --------------------------------------------------------------------
    def namespaces(self) -> list[str]:
        return [n for n in ipcmd.list_netns() if n.startswith(self.prefix)]

    def amphora_namespaces(self) -> list[str]:
        return [n for n in self.namespaces() if n.startswith(self.prefix + "amp-")]

    def host_links(self) -> list[str]:
        return [n for n in ipcmd.host_links() if n.startswith(self.ifprefix)]

    def bridge_ports(self, bridge: str) -> list[str]:
        path = Path(f"/sys/class/net/{bridge}/brif")
        return sorted(os.listdir(path)) if path.exists() else []

    def amphora_pids(self) -> list[int]:
        return [pid for ns in self.amphora_namespaces() for pid in ipcmd.netns_pids(ns)]

    def cleanup(self) -> None:
        """Remove everything this lab made, even after a failure."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.kill(signal.SIGKILL)
            for backend in self.backends:
                backend.stop()
            for _ in range(5):  # again: an agent may start a HAProxy as it dies
                pids = [p for ns in self.namespaces() for p in ipcmd.netns_pids(ns)]
                if not pids:
                    break
                kill_and_wait(pids)
            # Anything still naming our run directory outlived its amphora's namespace
            # (portus removed the name and missed a process): a leak, and a failure.
            leaked = self.processes_naming_run_dir()
            kill_and_wait(leaked)
            remove_cgroups(self.amphora_namespaces())
            for ns in self.namespaces():
                ipcmd.netns_delete(ns)
            self.network.unplug_many(self.host_links())
            self.network.teardown_networks()
            shutil.rmtree(self.run_dir, ignore_errors=True)
        finally:
            os.close(self._lock_fd)
        assert not leaked, f"processes outlived their amphora: {leaked}"

    def processes_naming_run_dir(self) -> list[int]:
        marker = str(self.run_dir).encode() + b"/"
        found = []
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if marker in f.read():
                        found.append(int(entry))
            except (OSError, ValueError):
                continue
        return found


class Prober:
    """A request through the VIP every 20 ms, each on a new connection; measures the
    longest outage: start of the first failed probe to start of the next good one."""

    def __init__(self, lab: PortusLab, vip: str, expected: str, timeout: float = 0.5) -> None:
        self.lab, self.vip, self.expected, self.timeout = lab, vip, expected, timeout
        self.first_failure: float | None = None
        self.recovered: float | None = None
        self.last_ok: float | None = None  # start of the latest good probe
        self.outage = 0.0
        self.sent = self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        down_since: float | None = None
        while not self._stop.is_set():
            started = time.monotonic()
            ok = self.lab.get(self.vip, timeout=self.timeout) == self.expected
            self.sent += 1
            if ok:
                self.last_ok = started
            if not ok:
                self.failed += 1
                if down_since is None:
                    down_since = started
                    self.first_failure = self.first_failure or started
            elif down_since is not None:
                self.outage = max(self.outage, started - down_since)
                self.recovered = started
                down_since = None
            time.sleep(max(0.0, 0.02 - (time.monotonic() - started)))
        if down_since is not None:
            self.outage = max(self.outage, time.monotonic() - down_since)

    def __enter__(self) -> "Prober":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(5)


# -- openstacksdk helpers shared by the end-to-end tests ----------------------------------

PROJECT = "e2e-project"


def create_http_lb(sdk: Any, lab: PortusLab, backends: list[Backend], name: str = "e2e",
                   healthmonitor: dict[str, Any] | None = None, **fields: Any) -> Any:
    """A fully populated load balancer: HTTP listener on 80, ROUND_ROBIN pool of backends."""
    pool: dict[str, Any] = {
        "name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
        "members": [{"name": b.name, "address": b.address, "protocol_port": b.port}
                    for b in backends]}
    if healthmonitor is not None:
        pool["healthmonitor"] = healthmonitor
    return sdk.load_balancer.create_load_balancer(
        name=name, project_id=PROJECT, vip_subnet_id=lab.subnet.id,
        listeners=[{"name": "http", "protocol": "HTTP", "protocol_port": 80,
                    "default_pool": pool}], **fields)


def lb_status(sdk: Any, lb_id: str) -> str:
    lb = sdk.load_balancer.get_load_balancer(lb_id)
    assert lb.provisioning_status != "ERROR", lb.to_dict()
    return str(lb.provisioning_status)


def wait_active(sdk: Any, lb_id: str, timeout: float = 60) -> None:
    wait_for("ACTIVE", lambda: lb_status(sdk, lb_id) == "ACTIVE", timeout, 0.1)
