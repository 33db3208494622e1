"""Control groups: an amphora's share of the host's CPU and memory.

The netns compute driver gives each amphora one control group, with the CPU and
memory limits of its compute flavor. The agent moves itself into it before it
starts HAProxy or keepalived, so every process of the amphora is limited and
counted, and reads the group's usage for ``octavia_loadbalancer_cpu`` and
``octavia_loadbalancer_memory``. The agent cannot see the group's files by path:
`ip netns exec` mounts a fresh /sys without the cgroup file systems. It inherits
the group's directories as open file descriptors instead (named in FDS_ENV) and
reaches the files through them. Both layouts are found from /proc/self/mountinfo:
cgroup v2 (one hierarchy whose controllers include cpu and memory) and v1 (cpu,
cpuacct and memory hierarchies, possibly co-mounted).

STDLIB ONLY, like agent.py.
"""
from __future__ import annotations

import errno
import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping

CPU_PERIOD_US = 100_000
FDS_ENV = "PORTUS_CGROUP_FDS"
# v1 reports "no limit" as the largest page-aligned 64-bit value.
_NO_LIMIT = 1 << 60
_V1_CONTROLLERS = ("cpu", "cpuacct", "memory")
_UNIFIED = "unified"


def detect(mountinfo: str = "/proc/self/mountinfo") -> dict[str, str] | None:
    """Mount point per role ("unified" for v2; "cpu", "cpuacct" and "memory" for v1),
    or None when this host cannot limit CPU and memory per group. v2 wins when its
    hierarchy has both controllers (a hybrid host mounts v2 without them)."""
    unified = None
    v1: dict[str, str] = {}
    with open(mountinfo, encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            # "id parent major:minor root mount-point options [optional...] - type source super-options"
            sep = fields.index("-")
            fstype, mount_point = fields[sep + 1], fields[4]
            if fstype == "cgroup2" and unified is None:
                unified = mount_point
            elif fstype == "cgroup":
                for option in fields[sep + 3].split(","):
                    if option in _V1_CONTROLLERS:
                        v1.setdefault(option, mount_point)
    if unified is not None:
        try:
            with open(os.path.join(unified, "cgroup.controllers"), encoding="ascii") as f:
                controllers = set(f.read().split())
        except OSError:
            controllers = set()
        if {"cpu", "memory"} <= controllers:
            return {_UNIFIED: unified}
    if all(c in v1 for c in _V1_CONTROLLERS):
        return v1
    return None


def group_dirs(mounts: dict[str, str], name: str) -> dict[str, str]:
    """The directories of group ``name`` (a relative path), one per role."""
    return {role: os.path.join(mount, name) for role, mount in mounts.items()}


def _write(path: str, value: str, dir_fd: int | None = None) -> None:
    fd = os.open(path, os.O_WRONLY, dir_fd=dir_fd)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def create(mounts: dict[str, str], name: str, vcpus: float, ram_mb: int) -> dict[str, str]:
    """Make group ``name`` (idempotent) with these limits (0: none); its directories."""
    dirs = group_dirs(mounts, name)
    quota = int(vcpus * CPU_PERIOD_US) if vcpus else None
    memory = ram_mb << 20 if ram_mb else None
    if _UNIFIED in mounts:
        # v2 hands a controller to a group only when every ancestor enables it for
        # its children.
        path = mounts[_UNIFIED]
        for part in name.split("/"):
            _write(os.path.join(path, "cgroup.subtree_control"), "+cpu +memory")
            path = os.path.join(path, part)
            os.makedirs(path, exist_ok=True)
        _write(os.path.join(path, "cpu.max"), f"{quota if quota else 'max'} {CPU_PERIOD_US}")
        _write(os.path.join(path, "memory.max"), str(memory) if memory else "max")
        if memory and os.path.exists(os.path.join(path, "memory.swap.max")):
            _write(os.path.join(path, "memory.swap.max"), "0")
        return dirs
    for directory in set(dirs.values()):
        os.makedirs(directory, exist_ok=True)
    _write(os.path.join(dirs["cpu"], "cpu.cfs_period_us"), str(CPU_PERIOD_US))
    _write(os.path.join(dirs["cpu"], "cpu.cfs_quota_us"), str(quota) if quota else "-1")
    _write(os.path.join(dirs["memory"], "memory.limit_in_bytes"),
           str(memory) if memory else "-1")
    return dirs


def remove(dirs: dict[str, str], wait: float = 2.0) -> None:
    """Remove an empty group (absent: fine). A process that just died may still be
    leaving it: EBUSY is retried until ``wait`` runs out."""
    deadline = time.monotonic() + wait
    for directory in set(dirs.values()):
        while True:
            try:
                os.rmdir(directory)
            except FileNotFoundError:
                pass
            except OSError as exc:
                if exc.errno != errno.EBUSY or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)
                continue
            break


def open_dirs(dirs: dict[str, str]) -> dict[str, int]:
    """Directory descriptors of a group, one per role (co-mounted roles share one),
    inheritable so a child can be given them."""
    fds: dict[str, int] = {}
    opened: dict[str, int] = {}
    for role, directory in dirs.items():
        if directory not in opened:
            opened[directory] = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            os.set_inheritable(opened[directory], True)
        fds[role] = opened[directory]
    return fds


def fds_to_env(fds: dict[str, int]) -> str:
    return ",".join(f"{role}={fd}" for role, fd in fds.items())


def inherited(environ: Mapping[str, str]) -> dict[str, int] | None:
    """The group descriptors this process was given (FDS_ENV), kept from its own
    children (HAProxy needs none of them); None without a group."""
    text = environ.get(FDS_ENV)
    if not text:
        return None
    fds = {role: int(fd) for role, fd in (item.split("=", 1) for item in text.split(","))}
    for fd in set(fds.values()):
        os.set_inheritable(fd, False)
    return fds


def join(fds: dict[str, int], pid: int) -> None:
    """Move process ``pid`` (with all its threads) into the group."""
    for fd in set(fds.values()):
        _write("cgroup.procs", str(pid), dir_fd=fd)


def _read(dir_fd: int, filename: str) -> str:
    fd = os.open(filename, os.O_RDONLY, dir_fd=dir_fd)
    try:
        return os.read(fd, 65536).decode("ascii").strip()
    finally:
        os.close(fd)


def _stat(dir_fd: int, filename: str) -> dict[str, int]:
    return {k: int(v) for k, v in (row.split() for row in _read(dir_fd, filename).splitlines())}


class Usage:
    """What a group uses, and its limits (None: not limited), read through the
    group's directory descriptors."""

    def __init__(self, fds: dict[str, int]) -> None:
        self.fds = fds
        self.unified = fds.get(_UNIFIED)

    def cpu_seconds(self) -> float:
        if self.unified is not None:
            return _stat(self.unified, "cpu.stat")["usage_usec"] / 1e6
        return int(_read(self.fds["cpuacct"], "cpuacct.usage")) / 1e9

    def vcpus(self) -> float | None:
        if self.unified is not None:
            limit, period = _read(self.unified, "cpu.max").split()
            return None if limit == "max" else int(limit) / int(period)
        quota = int(_read(self.fds["cpu"], "cpu.cfs_quota_us"))
        return None if quota < 0 else quota / int(_read(self.fds["cpu"], "cpu.cfs_period_us"))

    def memory_bytes(self) -> int:
        """Memory in use, less the file cache the kernel can take back at once."""
        if self.unified is not None:
            used = int(_read(self.unified, "memory.current"))
            return used - _stat(self.unified, "memory.stat").get("inactive_file", 0)
        used = int(_read(self.fds["memory"], "memory.usage_in_bytes"))
        return used - _stat(self.fds["memory"], "memory.stat").get("total_inactive_file", 0)

    def memory_limit(self) -> int | None:
        if self.unified is not None:
            value = _read(self.unified, "memory.max")
            return None if value == "max" else int(value)
        limit = int(_read(self.fds["memory"], "memory.limit_in_bytes"))
        return None if limit >= _NO_LIMIT else limit
