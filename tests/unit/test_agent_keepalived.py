"""The agent's keepalived handling, driven against a stand-in keepalived.

The stand-in answers `--help` and `-t` like keepalived and, when started, leaves two
processes (parent and VRRP child) with their pid files; the parent counts SIGHUPs.
So check/apply/reload/stop and the heartbeat's health test run without root, a
namespace or a real VRRP peer. The real keepalived is covered by the end-to-end
ACTIVE_STANDBY tests.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from portus.amphora.agent import _config_bundle, HttpError
from portus.common.osutil import alive
from portus.amphora.keepalived import Keepalived, KeepalivedError

FAKE = """#!/bin/sh
case "$1" in
  --help) echo "  -t, --config-test[=LOG_FILE] Check the configuration"; exit 0 ;;
  -t) if grep -q bogus "$3"; then echo "(Line 1) Unknown keyword 'bogus'"; exit 5; fi; exit 0 ;;
esac
# --vrrp --log-detail -f CFG -p PIDFILE -r VRRP_PIDFILE; each process writes its pid
# file once it handles SIGHUP, as keepalived does.
daemon='import os, signal, sys, time
signal.signal(signal.SIGHUP, lambda *_: open(sys.argv[2] + ".hups", "a").write("hup\\n"))
open(sys.argv[2], "w").write(str(os.getpid()))
while True:
    time.sleep(1)'
"{python}" -c "$daemon" "$4" "$6" </dev/null >/dev/null 2>&1 &
"{python}" -c "$daemon" "$4" "$8" </dev/null >/dev/null 2>&1 &
"""


@pytest.fixture
def vrrp(tmp_path: Path) -> Iterator[Keepalived]:
    binary = tmp_path / "keepalived"
    binary.write_text(FAKE.replace("{python}", sys.executable))
    binary.chmod(0o755)
    base = tmp_path / "amp"
    base.mkdir()
    keepalived = Keepalived(str(binary), str(base))
    yield keepalived
    for name in ("keepalived.pid", "keepalived-vrrp.pid"):  # whatever a failed test left
        try:
            os.kill(int((base / name).read_text()), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def _hups(vrrp: Keepalived) -> int:
    try:
        return Path(vrrp.pidfile + ".hups").read_text().count("hup")
    except FileNotFoundError:
        return 0


def test_start_reload_stop(vrrp: Keepalived) -> None:
    assert vrrp.healthy() and vrrp.matches(None) and not vrrp.configured()
    assert vrrp.check("vrrp_instance one {}\n") is None
    assert vrrp.apply("vrrp_instance one {}\n") == "started"
    assert vrrp.running() and vrrp.healthy() and vrrp.matches("vrrp_instance one {}\n")
    assert not vrrp.matches("vrrp_instance two {}\n") and not vrrp.matches(None)

    assert vrrp.check("vrrp_instance two {}\n") is None
    assert vrrp.apply("vrrp_instance two {}\n") == "reloaded"
    deadline = time.monotonic() + 5
    while _hups(vrrp) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _hups(vrrp) == 1 and vrrp.matches("vrrp_instance two {}\n")

    assert vrrp.apply(None) == "stopped"
    assert not vrrp.running() and not vrrp.configured() and vrrp.healthy()
    assert vrrp.apply(None) == "none"


def test_a_refused_file_changes_nothing(vrrp: Keepalived) -> None:
    vrrp.check("vrrp_instance one {}\n")
    vrrp.apply("vrrp_instance one {}\n")
    details = vrrp.check("vrrp_instance one { bogus }\n")
    assert details is not None and "Unknown keyword 'bogus'" in details
    assert not os.path.exists(vrrp.candidate)
    assert vrrp.matches("vrrp_instance one {}\n") and vrrp.running()
    vrrp.stop()


def test_unhealthy_when_the_vrrp_process_died(vrrp: Keepalived) -> None:
    """The heartbeat stops then: a MASTER whose keepalived died must be replaced."""
    vrrp.check("vrrp_instance one {}\n")
    vrrp.apply("vrrp_instance one {}\n")
    child = int(Path(vrrp.vrrp_pidfile).read_text())
    os.kill(child, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not vrrp.healthy()
    assert vrrp.stop() and vrrp.healthy()


def test_a_missing_binary_is_an_error(tmp_path: Path) -> None:
    vrrp = Keepalived(str(tmp_path / "nope"), str(tmp_path))
    assert vrrp.check("x\n") is None  # no checker to ask: applying will tell
    with pytest.raises(KeepalivedError):
        vrrp.apply("x\n")


@pytest.mark.parametrize("body, error", [
    ("not json", "not valid JSON"),
    ('["haproxy"]', "needs a string 'haproxy'"),
    ('{"haproxy": 1}', "needs a string 'haproxy'"),
    ('{"haproxy": "global\\n", "keepalived": ""}', "non-empty string or null"),
    ('{"haproxy": "global\\n", "keepalived": 5}', "non-empty string or null"),
    ('{"haproxy": " ", "keepalived": null}', "empty configuration"),
])
def test_bundle_refusals(body: str, error: str) -> None:
    with pytest.raises(HttpError, match=error) as exc:
        _config_bundle(body)
    assert exc.value.status == 400


def test_bundle() -> None:
    assert _config_bundle('{"haproxy": "global\\n", "keepalived": "vrrp\\n"}') == (
        "global\n", "vrrp\n")
    assert _config_bundle('{"haproxy": "global\\n"}') == ("global\n", None)
