"""Process and file helpers shared by the amphora agent (with its keepalived and UDP
parts) and the controller's drivers.

STDLIB ONLY: the amphora agent imports this module and runs with `python -S`.
"""
from __future__ import annotations

import os
import signal
import threading
import time


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    return data[data.rfind(")") + 2:].split()  # comm may contain spaces or ')'


def alive(pid: int) -> bool:
    # Not `kill -0`: orphaned daemons stay zombies (state Z) for a while here
    # because init reaps late, and a zombie answers kill -0.
    fields = _proc_stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def children(pid: int) -> list[int]:
    kids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _proc_stat(int(name))
            if fields is not None and fields[1] == str(pid):
                kids.append(int(name))
    return kids


def wait_dead(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def run(argv: list[str], out_fd: int, timeout: float, setsid: bool = False) -> int:
    """Run a command with stdout+stderr on out_fd; its exit code.

    Output goes to a file, never a pipe: a daemonizing haproxy keeps its
    stderr open, so a pipe would never reach EOF.
    """
    pid = os.posix_spawnp(argv[0], argv, os.environ, setsid=setsid, file_actions=[
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, out_fd, 1),
        (os.POSIX_SPAWN_DUP2, out_fd, 2),
    ])
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise TimeoutError(f"{argv[0]} did not finish within {timeout:.0f}s")
        time.sleep(0.005)


def run_capture(argv: list[str], timeout: float) -> tuple[int, str]:
    """Like run(), returning the output too (kept in a memfd: no temp file)."""
    fd = os.memfd_create("portus-agent")
    try:
        rc = run(argv, fd, timeout)
        os.lseek(fd, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return rc, b"".join(chunks).decode("utf-8", "replace")


def write_atomic(path: str | os.PathLike[str], data: bytes, mode: int = 0o600) -> None:
    """Write then rename, so readers never see a half-written file. The temporary name
    is unique per process and thread, so concurrent writers never share one."""
    path = os.fspath(path)
    head, tail = os.path.split(path)
    tmp = os.path.join(head, f".{tail}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW,
                 mode)
    try:
        os.fchmod(fd, mode)  # the umask may have narrowed it
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return None

def unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
