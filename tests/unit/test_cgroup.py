"""Amphora control groups: finding the hierarchies, writing limits, reading usage
(on file trees laid out as the kernel lays them out), and the utilisation figures
the metrics proxy derives from them."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from portus.amphora import cgroup, metrics_proxy
from portus.common.config import AmphoraConfig, ComputeFlavorConfig, ConfigError
from portus.drivers.compute.netns import NetnsCompute
from portus.drivers.network.noop import NoopNetwork

V2_LINE = "30 24 0:26 / {mount} rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
V1_LINE = "31 24 0:27 / {mount} rw,nosuid shared:5 - cgroup cgroup rw,{options}\n"
OTHER_LINE = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"


def _mountinfo(tmp_path: Path, *lines: str) -> str:
    path = tmp_path / "mountinfo"
    path.write_text(OTHER_LINE + "".join(lines))
    return str(path)


def _v2_mount(tmp_path: Path, controllers: str) -> Path:
    mount = tmp_path / "unified"
    mount.mkdir()
    (mount / "cgroup.controllers").write_text(controllers + "\n")
    return mount


def test_detect_prefers_v2_with_both_controllers(tmp_path: Path) -> None:
    mount = _v2_mount(tmp_path, "cpuset cpu io memory pids")
    info = _mountinfo(tmp_path, V2_LINE.format(mount=mount),
                      V1_LINE.format(mount="/v1/cpu", options="cpu,cpuacct"),
                      V1_LINE.format(mount="/v1/memory", options="memory"))
    assert cgroup.detect(info) == {"unified": str(mount)}


def test_detect_falls_back_to_v1_on_a_hybrid_host(tmp_path: Path) -> None:
    mount = _v2_mount(tmp_path, "")  # systemd's hybrid layout: v2 without controllers
    info = _mountinfo(tmp_path, V2_LINE.format(mount=mount),
                      V1_LINE.format(mount="/v1/cpu,cpuacct", options="cpu,cpuacct"),
                      V1_LINE.format(mount="/v1/memory", options="memory"),
                      V1_LINE.format(mount="/v1/pids", options="pids"))
    assert cgroup.detect(info) == {"cpu": "/v1/cpu,cpuacct", "cpuacct": "/v1/cpu,cpuacct",
                                   "memory": "/v1/memory"}


def test_detect_none_without_the_controllers(tmp_path: Path) -> None:
    mount = _v2_mount(tmp_path, "pids")
    info = _mountinfo(tmp_path, V2_LINE.format(mount=mount),
                      V1_LINE.format(mount="/v1/cpu", options="cpu,cpuacct"))
    assert cgroup.detect(info) is None
    assert cgroup.detect(_mountinfo(tmp_path)) is None


def _touch(directory: Path, *names: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).touch()


def test_create_v2_enables_controllers_down_the_path_and_limits(tmp_path: Path) -> None:
    mount = tmp_path / "unified"
    # The kernel makes these files with each directory.
    _touch(mount, "cgroup.subtree_control")
    _touch(mount / "portus", "cgroup.subtree_control")
    group = mount / "portus" / "amp-1"
    _touch(group, "cpu.max", "memory.max", "memory.swap.max", "cgroup.procs")
    dirs = cgroup.create({"unified": str(mount)}, "portus/amp-1", 0.5, 256)
    assert dirs == {"unified": str(group)}
    assert (mount / "cgroup.subtree_control").read_text() == "+cpu +memory"
    assert (mount / "portus" / "cgroup.subtree_control").read_text() == "+cpu +memory"
    assert (group / "cpu.max").read_text() == "50000 100000"
    assert (group / "memory.max").read_text() == str(256 << 20)
    assert (group / "memory.swap.max").read_text() == "0"


def test_create_without_limits_writes_none(tmp_path: Path) -> None:
    mount = tmp_path / "unified"
    _touch(mount, "cgroup.subtree_control")
    _touch(mount / "p", "cgroup.subtree_control")
    _touch(mount / "p" / "g", "cpu.max", "memory.max", "memory.swap.max")
    cgroup.create({"unified": str(mount)}, "p/g", 0, 0)
    assert (mount / "p" / "g" / "cpu.max").read_text() == "max 100000"
    assert (mount / "p" / "g" / "memory.max").read_text() == "max"
    assert (mount / "p" / "g" / "memory.swap.max").read_text() == ""  # left as it is


def _v1_tree(tmp_path: Path) -> dict[str, str]:
    mounts = {c: str(tmp_path / c) for c in ("cpu", "cpuacct", "memory")}
    _touch(tmp_path / "cpu" / "p" / "g", "cpu.cfs_period_us", "cpu.cfs_quota_us", "cgroup.procs")
    _touch(tmp_path / "cpuacct" / "p" / "g", "cpuacct.usage", "cgroup.procs")
    _touch(tmp_path / "memory" / "p" / "g", "memory.limit_in_bytes", "memory.usage_in_bytes",
           "memory.stat", "cgroup.procs")
    return mounts


def test_create_v1_and_read_usage(tmp_path: Path) -> None:
    dirs = cgroup.create(_v1_tree(tmp_path), "p/g", 1.5, 128)
    assert (Path(dirs["cpu"]) / "cpu.cfs_quota_us").read_text() == "150000"
    assert (Path(dirs["memory"]) / "memory.limit_in_bytes").read_text() == str(128 << 20)
    (Path(dirs["cpuacct"]) / "cpuacct.usage").write_text("2500000000\n")
    (Path(dirs["memory"]) / "memory.usage_in_bytes").write_text(f"{50 << 20}\n")
    (Path(dirs["memory"]) / "memory.stat").write_text(f"cache 1\ntotal_inactive_file {10 << 20}\n")
    (Path(dirs["cpu"]) / "cpu.cfs_period_us").write_text("100000\n")
    (Path(dirs["cpu"]) / "cpu.cfs_quota_us").write_text("150000\n")
    (Path(dirs["memory"]) / "memory.limit_in_bytes").write_text(f"{128 << 20}\n")
    fds = cgroup.open_dirs(dirs)
    try:
        usage = cgroup.Usage(fds)
        assert usage.cpu_seconds() == 2.5 and usage.vcpus() == 1.5
        assert usage.memory_bytes() == 40 << 20 and usage.memory_limit() == 128 << 20
        (Path(dirs["cpu"]) / "cpu.cfs_quota_us").write_text("-1\n")
        (Path(dirs["memory"]) / "memory.limit_in_bytes").write_text("9223372036854771712\n")
        assert usage.vcpus() is None and usage.memory_limit() is None
        cgroup.join(fds, 4242)
        assert (Path(dirs["memory"]) / "cgroup.procs").read_text() == "4242"
    finally:
        for fd in set(fds.values()):
            os.close(fd)


def test_usage_v2(tmp_path: Path) -> None:
    group = tmp_path / "g"
    _touch(group)
    (group / "cpu.stat").write_text("usage_usec 1500000\nuser_usec 1000000\n")
    (group / "cpu.max").write_text("25000 100000\n")
    (group / "memory.current").write_text(f"{30 << 20}\n")
    (group / "memory.stat").write_text(f"anon 1\ninactive_file {5 << 20}\n")
    (group / "memory.max").write_text("max\n")
    fds = cgroup.open_dirs({"unified": str(group)})
    try:
        usage = cgroup.Usage(fds)
        assert usage.cpu_seconds() == 1.5 and usage.vcpus() == 0.25
        assert usage.memory_bytes() == 25 << 20 and usage.memory_limit() is None
    finally:
        os.close(fds["unified"])


def test_open_dirs_shares_co_mounted_directories_and_env_round_trips(tmp_path: Path) -> None:
    fds = cgroup.open_dirs({"cpu": str(tmp_path), "cpuacct": str(tmp_path)})
    try:
        assert fds["cpu"] == fds["cpuacct"] and os.get_inheritable(fds["cpu"])
        assert cgroup.inherited({cgroup.FDS_ENV: cgroup.fds_to_env(fds)}) == fds
        assert not os.get_inheritable(fds["cpu"])  # HAProxy does not get it
        assert cgroup.inherited({}) is None
    finally:
        os.close(fds["cpu"])


def test_remove_is_quiet_when_absent(tmp_path: Path) -> None:
    group = tmp_path / "g"
    group.mkdir()
    cgroup.remove({"memory": str(group), "cpu": str(tmp_path / "never")})
    assert not group.exists()


class FakeUsage:
    def __init__(self) -> None:
        self.cpu, self.limit_cpus, self.memory, self.limit_memory = 0.0, 0.5, 64 << 20, 256 << 20

    def cpu_seconds(self) -> float:
        return self.cpu

    def vcpus(self) -> float | None:
        return self.limit_cpus

    def memory_bytes(self) -> int:
        return self.memory

    def memory_limit(self) -> int | None:
        return self.limit_memory


def test_utilisation_is_the_groups_share_of_its_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(metrics_proxy.time, "monotonic", lambda: clock[0])
    usage = FakeUsage()
    figures = metrics_proxy.Utilisation(usage)  # type: ignore[arg-type]
    clock[0], usage.cpu = 102.0, 0.5  # half a CPU-second in two seconds, of 0.5 CPU
    assert figures.figures() == (50.0, 25.0)
    clock[0], usage.cpu = 103.0, 0.5  # idle since the previous scrape
    assert figures.figures()[0] == 0.0
    # Without limits: the host's CPUs and memory.
    usage.limit_cpus, usage.limit_memory = None, None
    monkeypatch.setattr(metrics_proxy.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(metrics_proxy, "_meminfo_kib", lambda key: 1 << 20)  # 1 GiB
    clock[0], usage.cpu = 104.0, 2.5
    assert figures.figures() == (50.0, 6.25)
    lines = figures.lines()
    assert "octavia_loadbalancer_memory 6.2" in lines or "octavia_loadbalancer_memory 6.3" in lines


def test_limits_on_a_host_without_controllers_refuse_to_start(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cgroup, "detect", lambda: None)
    flavors = {"small": ComputeFlavorConfig(ram_mb=128)}
    with pytest.raises(ConfigError, match="no cgroup cpu and memory controllers"):
        NetnsCompute(AmphoraConfig(compute_flavors=flavors), NoopNetwork())
    assert NetnsCompute(AmphoraConfig(), NoopNetwork()).cgroup_mounts is None  # unlimited: fine
