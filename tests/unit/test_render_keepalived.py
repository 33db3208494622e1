"""The keepalived configuration of an ACTIVE_STANDBY amphora."""
from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from portus.amphora.render import RenderError
from portus.amphora.render_keepalived import KeepalivedSpec, VirtualAddress, render_keepalived

LB_ID = "5d3b8a0e-58a4-4b0e-9d0c-2f0b6c1e7a11"


def _spec(**changes: object) -> KeepalivedSpec:
    spec = KeepalivedSpec(
        lb_id=LB_ID, generation=7, role="MASTER", priority=150, vrid=1, interface="vip0",
        source_ip="198.18.1.238", peers=("198.18.1.237",),
        vips=(VirtualAddress("198.18.1.10", 24, "vip0"),
              VirtualAddress("198.18.2.10", 24, "vip1")),
        advert_int=0.1, check_interval=1, base_dir="/run/portus/amphorae/a1")
    return dataclasses.replace(spec, **changes)  # type: ignore[arg-type]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


def test_master_of_a_pair() -> None:
    lines = _lines(render_keepalived(_spec()))
    assert lines[0] == f"# portus generation 7 load balancer {LB_ID} (MASTER)"
    for wanted in ("vrrp_instance lb_5d3b8a0e58a44b0e9d0c2f0b6c1e7a11 {", "state MASTER",
                   "interface vip0", "virtual_router_id 1", "priority 150", "version 3",
                   "advert_int 0.1", "unicast_src_ip 198.18.1.238", "198.18.1.237",
                   "check_unicast_src", "198.18.1.10/24 dev vip0", "198.18.2.10/24 dev vip1",
                   "interval 1", "enable_script_security", "check_haproxy"):
        assert wanted in lines, wanted
    # The track script reads this amphora's haproxy pid file, and takes a zombie as dead.
    script = next(line for line in lines if line.startswith("script "))
    assert "/run/portus/amphorae/a1/haproxy.pid" in script and "!= Z" in script


def test_backup_and_ipv6() -> None:
    text = render_keepalived(_spec(role="BACKUP", priority=100, source_ip="2001:db8::5",
                                   peers=("2001:db8::6",),
                                   vips=(VirtualAddress("2001:db8::a", 64, "vip0"),)))
    lines = _lines(text)
    assert "state BACKUP" in lines and "priority 100" in lines
    assert "unicast_src_ip 2001:db8::5" in lines and "2001:db8::a/64 dev vip0" in lines


@pytest.mark.parametrize("changes, message", [
    ({"role": "STANDALONE"}, "role"),
    ({"peers": ()}, "peer"),
    ({"peers": ("198.18.1.238",)}, "own address"),
    ({"vips": ()}, "virtual address"),
    ({"source_ip": "198.18.1.x"}, "source"),
    ({"peers": ("1.2.3.4\n}",)}, "peer"),
    ({"vips": (VirtualAddress("198.18.1.10", 24, "vip0 }"),)}, "interface"),
    ({"interface": "a" * 16}, "interface"),
    ({"priority": 255}, "priority"),
    ({"priority": True}, "priority"),
    ({"vrid": 0}, "virtual_router_id"),
    ({"check_interval": 0}, "check interval"),
    ({"advert_int": 0.001}, "advert_int"),
    ({"advert_int": 41.0}, "advert_int"),
    ({"base_dir": "/run/x'; reboot"}, "base_dir"),
    ({"lb_id": "a b"}, "load balancer id"),
])
def test_refuses_unsafe_values(changes: dict[str, object], message: str) -> None:
    with pytest.raises(RenderError, match=message):
        render_keepalived(_spec(**changes))


def _keepalived() -> str | None:
    found = shutil.which("keepalived") or ("/usr/sbin/keepalived"
                                           if os.path.exists("/usr/sbin/keepalived") else None)
    if found is None:
        return None
    done = subprocess.run([found, "--help"], capture_output=True, text=True)
    help_text = done.stdout + done.stderr
    return found if "--config-test" in help_text else None


def test_keepalived_accepts_the_rendered_file(tmp_path: Path) -> None:
    """`keepalived -t` checks that the interfaces exist: render for one this host has."""
    binary = _keepalived()
    if binary is None:
        pytest.skip("no keepalived with --config-test")
    interfaces = sorted(n for n in os.listdir("/sys/class/net") if n != "lo")
    if not interfaces:
        pytest.skip("no network interface besides lo")
    conf = tmp_path / "keepalived.conf"
    conf.write_text(render_keepalived(_spec(
        interface=interfaces[0], vips=(VirtualAddress("198.18.1.10", 24, interfaces[0]),))))
    result = subprocess.run([binary, "-t", "-f", str(conf)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
    # And the checker does catch a broken file (it exits 0 on a missing one).
    conf.write_text(conf.read_text().replace("version 3", "version 3 bogus {"))
    assert subprocess.run([binary, "-t", "-f", str(conf)], capture_output=True,
                          timeout=30).returncode != 0
