"""keepalived (VRRP) inside an amphora of an ACTIVE_STANDBY pair: agent side.

The controller renders keepalived.conf and pushes it together with haproxy.cfg;
this module only checks it (``keepalived -t``, which also checks that the
interfaces exist, so it must run inside the amphora), writes it, and starts
keepalived or has it re-read the file (SIGHUP keeps the VRRP state: the MASTER
keeps the VIP). keepalived daemonizes with pid files of its own, so several
amphorae run side by side on one host and it outlives the agent.

STDLIB ONLY, like agent.py (this module must not import agent.py: under
``python -m`` that would load it twice; shared helpers live in portus/common/osutil.py).

Files in base_dir: keepalived.conf (applied), keepalived.conf.new (candidate),
keepalived.pid (parent), keepalived-vrrp.pid (the VRRP child).
"""
from __future__ import annotations

import os
import signal
import time

from portus.common.osutil import (alive, read_text, run_capture, unlink_quiet, wait_dead,
                                  write_atomic)

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


class KeepalivedError(Exception):
    pass


class Keepalived:
    def __init__(self, binary: str, base_dir: str) -> None:
        self.binary = binary
        self.cfg = os.path.join(base_dir, "keepalived.conf")
        self.candidate = self.cfg + ".new"
        self.pidfile = os.path.join(base_dir, "keepalived.pid")
        self.vrrp_pidfile = os.path.join(base_dir, "keepalived-vrrp.pid")
        self._can_test: bool | None = None

    # -- state ---------------------------------------------------------------------
    def _pid(self, path: str) -> int | None:
        """The pid in ``path`` if that process is a keepalived on our config file
        (pids are shared by every amphora on the host and get reused)."""
        try:
            with open(path) as f:
                pid = int(f.read().split()[0])
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except (OSError, ValueError, IndexError):
            return None
        return pid if self.cfg.encode() in argv and alive(pid) else None

    def configured(self) -> bool:
        return os.path.exists(self.cfg)

    def running(self) -> bool:
        return self._pid(self.pidfile) is not None

    def healthy(self) -> bool:
        """False when a configuration is applied but VRRP is not running. The agent
        then stops its heartbeats so the controller replaces this amphora: a MASTER
        whose keepalived died keeps the VIP while the BACKUP takes it too."""
        return not self.configured() or (self.running()
                                         and self._pid(self.vrrp_pidfile) is not None)

    def matches(self, text: str | None) -> bool:
        """Whether ``text`` (None: no VRRP) is what runs now."""
        current = read_text(self.cfg)
        return current == text and (text is None or self.running())

    # -- changes -------------------------------------------------------------------
    def check(self, text: str | None) -> str | None:
        """Stage ``text`` as the candidate; the checker's complaint, or None if fine."""
        if text is None:
            return None
        write_atomic(self.candidate, text.encode("utf-8"))
        if not self._supports_test():
            return None
        try:
            rc, out = run_capture([self.binary, "-t", "-f", self.candidate], 30.0)
        except OSError as exc:
            os.unlink(self.candidate)
            raise KeepalivedError(f"could not run {self.binary} -t: {exc}") from None
        if rc == 0:
            return None
        os.unlink(self.candidate)
        return out.strip()[-4000:] or f"{self.binary} -t exited with {rc}"

    def apply(self, text: str | None) -> str:
        """Make the staged candidate (or no VRRP at all) the running configuration."""
        if text is None:
            return "stopped" if self.stop() else "none"
        os.replace(self.candidate, self.cfg)
        pid = self._pid(self.pidfile)
        if pid is not None:
            os.kill(pid, signal.SIGHUP)
            return "reloaded"
        self._start()
        return "started"

    def _start(self) -> None:
        for path in (self.pidfile, self.vrrp_pidfile):
            unlink_quiet(path)
        argv = [self.binary, "--vrrp", "--log-detail", "-f", self.cfg, "-p", self.pidfile,
                "-r", self.vrrp_pidfile]
        try:
            rc, out = run_capture(argv, START_TIMEOUT)  # returns once it has daemonized
        except OSError as exc:
            raise KeepalivedError(f"could not start keepalived: {exc}") from None
        if rc != 0:
            raise KeepalivedError(f"keepalived exited with {rc}: {out.strip()[-2000:]}")
        deadline = time.monotonic() + START_TIMEOUT
        while self._pid(self.pidfile) is None or self._pid(self.vrrp_pidfile) is None:
            if time.monotonic() > deadline:
                raise KeepalivedError("keepalived started but its VRRP process is not running")
            time.sleep(0.02)

    def stop(self) -> bool:
        """SIGTERM (keepalived then advertises priority 0 and drops the VIP, so the
        peer takes over at once), SIGKILL what is left. True if it ran."""
        pids = [p for p in (self._pid(self.pidfile), self._pid(self.vrrp_pidfile)) if p]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            if wait_dead(pids, STOP_TIMEOUT):
                break
        for path in (self.cfg, self.pidfile, self.vrrp_pidfile):
            unlink_quiet(path)
        return bool(pids)

    def _supports_test(self) -> bool:
        """`keepalived -t` exists from 2.0.something on; older ones would start."""
        if self._can_test is None:
            try:
                self._can_test = "--config-test" in run_capture([self.binary, "--help"], 10.0)[1]
            except OSError:
                self._can_test = False
        return self._can_test

