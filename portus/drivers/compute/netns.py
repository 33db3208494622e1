"""Compute driver that runs each amphora as a network namespace on this host.

An amphora is: a namespace (ip_nonlocal_bind=1 so a standby can bind the VIP,
lo up), a veth to the management bridge (`mgmt0`) and one per VIP (`vip0`...),
a private directory, a control group with its compute flavor's CPU and memory
limits (where the host has the cgroup controllers), and the agent process. The agent is started in its own
session with no pipes back to us, so it outlives the controller that started it.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

import portus
from portus.amphora import cgroup
from portus.common.config import AmphoraConfig, ComputeFlavorConfig, ConfigError
from portus.common.osutil import write_atomic
from portus.drivers import ipcmd
from portus.drivers.compute.base import (AmphoraBuild, ComputeDriver, member_ifname,
                                         vip_ifname)
from portus.drivers.ipcmd import IpCommandError
from portus.drivers.network.base import NetworkDriver, Plug

AGENT_CONFIG = "agent.json"
AGENT_LOG = "agent.log"
AGENT_PID = "agent.pid"
MGMT_IFNAME = "mgmt0"
RESERVED_FILES = frozenset({AGENT_CONFIG, AGENT_LOG, AGENT_PID})
STOP_ROUNDS = 5

NAMESPACE_SYSCTLS = {
    "net.ipv4.ip_nonlocal_bind": "1",
    "net.ipv6.ip_nonlocal_bind": "1",
    # Gratuitous ARP when an interface comes up, so the host forgets the MAC of
    # an earlier amphora that had the same address.
    "net.ipv4.conf.all.arp_notify": "1",
}
OPTIONAL_SYSCTLS = ("net.ipv6.ip_nonlocal_bind",)

# Agents we started and have not reaped yet. Kept at module level (they are
# children of this process, not of a driver object) so a dropped driver neither
# leaks zombies nor triggers "subprocess still running" warnings.
_children: dict[int, subprocess.Popen[bytes]] = {}
_children_lock = threading.Lock()


def _reap_children() -> None:
    with _children_lock:
        for pid, proc in list(_children.items()):
            if proc.poll() is not None:
                del _children[pid]


def _is_our_running_child(pid: int) -> bool:
    with _children_lock:
        proc = _children.get(pid)
        return proc is not None and proc.poll() is None


def _safe_relpath(name: str) -> PurePosixPath:
    # Checked on the raw string: PurePosixPath would quietly normalise "a//b", "./a".
    if any(part in ("", ".", "..") for part in name.split("/")) or name in RESERVED_FILES:
        raise ValueError(f"invalid amphora file name {name!r}")
    return PurePosixPath(name)


def _check_base_dir(base_dir: str) -> Path:
    path = Path(base_dir)
    # rmtree target: refuse anything that looks like a mistake (/, /var, relative).
    if not path.is_absolute() or len(path.parts) < 3 or ".." in path.parts:
        raise ValueError(f"amphora base_dir {base_dir!r} must be an absolute path at depth >= 2")
    return path


class NetnsCompute(ComputeDriver):
    def __init__(self, amphora_cfg: AmphoraConfig, network: NetworkDriver,
                 stop_grace: float = 2.0, kill_wait: float = 5.0) -> None:
        self.cfg = amphora_cfg
        self.network = network
        self.stop_grace = stop_grace  # SIGTERM -> SIGKILL
        self.kill_wait = kill_wait  # SIGKILL -> give up
        try:
            self.cgroup_mounts = cgroup.detect()
        except OSError:
            self.cgroup_mounts = None
        limited: list[ComputeFlavorConfig] = [amphora_cfg, *amphora_cfg.compute_flavors.values()]
        if self.cgroup_mounts is None and any(f.vcpus or f.ram_mb for f in limited):
            raise ConfigError("amphora vcpus/ram_mb: this host has no cgroup cpu and memory "
                              "controllers to enforce them")

    # -- naming -------------------------------------------------------------------

    def namespace_for(self, amphora_id: str) -> str:
        return ipcmd.check_netns_name(self.cfg.namespace_prefix + amphora_id)

    def mgmt_host_ifname(self, amphora_id: str) -> str:
        return ipcmd.mgmt_host_ifname(self.cfg.interface_prefix, amphora_id)

    def vip_host_ifname(self, amphora_id: str, index: int) -> str:
        return ipcmd.vip_host_ifname(self.cfg.interface_prefix, amphora_id, index)

    def host_ifnames(self, amphora_id: str) -> list[str]:
        """Host-side interfaces of this amphora that exist now."""
        stem = ipcmd.ifname_stem(self.cfg.interface_prefix, amphora_id)
        return [n for n in ipcmd.host_links() if ipcmd.is_amphora_ifname(n, stem)]

    # -- build ------------------------------------------------------------------------

    def build(self, spec: AmphoraBuild) -> str:
        self.build_network(spec)
        self.limit(spec)
        self.write_files(spec)
        if self.agent_pid(spec.namespace, spec.base_dir) is None:
            self._start_agent(spec)
        return spec.namespace

    def build_network(self, spec: AmphoraBuild) -> None:
        """Namespace, sysctls, lo and every plug; removes VIP plugs no longer wanted."""
        ns = ipcmd.check_netns_name(spec.namespace)
        if not ns.startswith(self.cfg.namespace_prefix):
            # Orphan cleanup finds amphorae by this prefix only.
            raise ValueError(f"namespace {ns!r} lacks prefix {self.cfg.namespace_prefix!r}")
        ipcmd.netns_add(ns)
        ipcmd.netns_configure(ns, NAMESPACE_SYSCTLS, up=["lo"], optional=OPTIONAL_SYSCTLS)
        plugs = self._plugs(spec)
        self.network.plug_many(ns, plugs)
        for plug in plugs:
            if plug.address is not None:
                ipcmd.announce(ns, plug.ns_ifname, [plug.address])
        wanted = {p.host_ifname for p in plugs}
        stale = [n for n in self.host_ifnames(spec.amphora_id) if n not in wanted]
        if stale:
            self.network.unplug_many(stale)

    def _plugs(self, spec: AmphoraBuild) -> list[Plug]:
        plugs = [Plug(self.mgmt_host_ifname(spec.amphora_id), MGMT_IFNAME, spec.mgmt_bridge,
                      spec.mgmt_ip, spec.mgmt_prefixlen)]
        gateway_taken = False
        for index, vip in enumerate(spec.vip_plugs):
            gateway = vip.gateway if vip.gateway and not gateway_taken else None
            gateway_taken = gateway_taken or gateway is not None
            plugs.append(Plug(self.vip_host_ifname(spec.amphora_id, index), vip_ifname(index),
                              vip.subnet_bridge, vip.address, vip.prefixlen, gateway))
        for port in spec.member_plugs:
            plugs.append(Plug(ipcmd.member_host_ifname(self.cfg.interface_prefix,
                                                       spec.amphora_id, port.slot),
                              member_ifname(port.slot), port.subnet_bridge, port.address,
                              port.prefixlen))
        return plugs

    def ensure_plugs(self, spec: AmphoraBuild) -> None:
        # Runs on every convergence: a listing of host interfaces when nothing changed.
        wanted = {p.host_ifname for p in self._plugs(spec)}
        if set(self.host_ifnames(spec.amphora_id)) != wanted:
            self.build_network(spec)

    def _cgroup_dirs(self, namespace: str) -> dict[str, str] | None:
        if self.cgroup_mounts is None:
            return None
        return cgroup.group_dirs(self.cgroup_mounts, f"{self.cfg.cgroup_parent}/{namespace}")

    def limit(self, spec: AmphoraBuild) -> None:
        """The amphora's control group with its limits; the agent joins it at start."""
        if self.cgroup_mounts is not None:
            cgroup.create(self.cgroup_mounts, f"{self.cfg.cgroup_parent}/{spec.namespace}",
                          spec.vcpus, spec.ram_mb)

    def write_files(self, spec: AmphoraBuild) -> None:
        base = _check_base_dir(spec.base_dir)
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(base, 0o700)
        for name, content in spec.files.items():
            path = base / _safe_relpath(name)
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomic(path, content)
        config = json.dumps(spec.agent_config, indent=2, sort_keys=True).encode()
        write_atomic(base / AGENT_CONFIG, config)

    def _start_agent(self, spec: AmphoraBuild) -> int:
        base = _check_base_dir(spec.base_dir)
        argv = spec.agent_argv or [sys.executable, "-S", "-m", "portus.amphora.agent",
                                   "--config", str(base / AGENT_CONFIG)]
        # A minimal environment: the controller's (database URL, secrets) has no
        # business inside an amphora. PYTHONPATH makes `-m portus...` resolve to
        # the same code as ours even when portus is not installed; -S skips site
        # (its .pth finders cost each amphora about 1 MB).
        project_root = str(Path(portus.__file__).resolve().parent.parent)
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
               "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1", "PYTHONPATH": project_root}
        group = self._cgroup_dirs(spec.namespace)
        group_fds = cgroup.open_dirs(group) if group else {}
        if group_fds:
            env[cgroup.FDS_ENV] = cgroup.fds_to_env(group_fds)
        log_fd = os.open(base / AGENT_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                         0o600)
        try:
            # `ip netns exec` execs in place, so this pid is the agent's pid.
            proc = subprocess.Popen(
                [ipcmd.IP, "netns", "exec", spec.namespace, *argv],
                stdin=subprocess.DEVNULL, stdout=log_fd, stderr=subprocess.STDOUT,
                cwd=base, env=env, start_new_session=True, close_fds=True,
                pass_fds=sorted(set(group_fds.values())))
        finally:
            for fd in {log_fd, *group_fds.values()}:
                os.close(fd)
        with _children_lock:
            _children[proc.pid] = proc
        write_atomic(base / AGENT_PID, f"{proc.pid}\n".encode())
        return proc.pid

    def restart_agent(self, spec: AmphoraBuild) -> None:
        pid = self.agent_pid(spec.namespace, spec.base_dir)
        if pid is not None:
            key = ipcmd.pid_netns_key(pid)
            survivors = self._stop({pid: key} if key else {})
            if survivors:
                raise IpCommandError(["restart_agent", spec.namespace],
                                     f"agent {pid} did not stop")
        self.limit(spec)
        self.write_files(spec)
        self._start_agent(spec)

    # -- queries ------------------------------------------------------------------

    def agent_pid(self, namespace: str, base_dir: str) -> int | None:
        _reap_children()
        try:
            pid = int((Path(base_dir) / AGENT_PID).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        if not ipcmd.pid_alive(pid):
            return None
        # In the namespace, or our child that has not entered it yet (pid reuse
        # by an unrelated process fails both tests).
        if ipcmd.pid_in_netns(pid, namespace) or _is_our_running_child(pid):
            return pid
        return None

    def exists(self, namespace: str) -> bool:
        return ipcmd.netns_exists(namespace)

    def list_amphora_namespaces(self) -> list[str]:
        prefix = self.cfg.namespace_prefix
        return [ns for ns in ipcmd.list_netns() if ns.startswith(prefix)]

    # -- delete -------------------------------------------------------------------

    def delete(self, amphora_id: str, namespace: str, base_dir: str) -> None:
        ipcmd.check_netns_name(namespace)
        base = _check_base_dir(base_dir)
        ns_key = ipcmd.netns_key(namespace)
        # Again until nothing is left: a process may start while the others stop (a
        # HAProxy the agent's watchdog brought back), and it would outlive the name.
        for _ in range(STOP_ROUNDS):
            _reap_children()
            targets: dict[int, tuple[int, int]] = {}
            if ns_key is not None:
                targets.update({pid: ns_key for pid in ipcmd.netns_pids(namespace)})
            targets.update(self._pidfile_targets(base, ns_key))
            if not targets:
                break
            survivors = self._stop(targets)
            if survivors:
                # Keep base_dir (its pid files) so a retry can find them again.
                raise IpCommandError(["delete", namespace],
                                     f"processes did not die: {survivors}")
        else:
            raise IpCommandError(["delete", namespace], "processes kept starting")
        # Explicitly: namespace destruction is asynchronous and would leave the
        # host-side veths around for a while.
        self.network.unplug_many(self.host_ifnames(amphora_id))
        group = self._cgroup_dirs(namespace)
        if group is not None:
            cgroup.remove(group)
        ipcmd.netns_delete(namespace)
        if base.exists():
            shutil.rmtree(base)
        certs = Path(self.cfg.secrets_dir) / amphora_id
        if self.cfg.secrets_dir and certs.exists():
            shutil.rmtree(certs)

    def _pidfile_targets(self, base: Path, ns_key: tuple[int, int] | None
                         ) -> dict[int, tuple[int, int]]:
        """Processes named in pid files under base_dir that are safe to kill: in our
        namespace, or in a namespace that no longer has a name (a leftover of this
        amphora). Never one in the host's namespace or another named namespace, so
        a recycled pid cannot take an unrelated process down."""
        if not base.is_dir():
            return {}
        own = ipcmd.pid_netns_key(os.getpid())
        named = {k for k in (ipcmd.netns_key(n) for n in ipcmd.list_netns()) if k is not None}
        found: dict[int, tuple[int, int]] = {}
        for pidfile in base.rglob("*.pid"):
            try:
                pid = int(pidfile.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            key = ipcmd.pid_netns_key(pid)
            if key is None or key == own or not ipcmd.pid_alive(pid):
                continue
            if key == ns_key or key not in named:
                found[pid] = key
        return found

    def _stop(self, targets: dict[int, tuple[int, int]]) -> list[int]:
        """SIGTERM, then SIGKILL after the grace; return pids still alive. pidfds
        pin each process so a pid reused meanwhile is never signalled."""
        fds: dict[int, int] = {}
        try:
            for pid, key in targets.items():
                try:
                    fd = os.pidfd_open(pid)
                except OSError:
                    continue  # already gone
                if ipcmd.pid_netns_key(pid) != key:  # not the process we meant
                    os.close(fd)
                    continue
                fds[pid] = fd
            self._signal(fds, signal.SIGTERM)
            alive = self._wait_dead(fds, self.stop_grace)
            if alive:
                self._signal({p: fds[p] for p in alive}, signal.SIGKILL)
                alive = self._wait_dead({p: fds[p] for p in alive}, self.kill_wait)
            return alive
        finally:
            for fd in fds.values():
                os.close(fd)

    @staticmethod
    def _signal(fds: dict[int, int], sig: signal.Signals) -> None:
        for fd in fds.values():
            try:
                signal.pidfd_send_signal(fd, sig)
            except ProcessLookupError:
                pass

    @staticmethod
    def _wait_dead(pids: Iterable[int], timeout: float) -> list[int]:
        # Poll /proc state (not kill -0): orphans linger as zombies here.
        deadline = time.monotonic() + timeout
        alive, pause = list(pids), 0.002
        while alive:
            _reap_children()
            alive = [p for p in alive if ipcmd.pid_alive(p)]
            if not alive or time.monotonic() >= deadline:
                break
            time.sleep(pause)
            pause = min(pause * 2, 0.05)  # most processes die within milliseconds
        return alive
