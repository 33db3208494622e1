"""Thin helpers around iproute2 and /proc for the Linux compute and network drivers.

Speed matters (an amphora is a few `ip` calls), so: several commands go through one
`ip -batch -` process, existence checks read /sys, /run/netns and /proc instead of
spawning, and work inside a namespace that iproute2 cannot do (sysctls, lo up,
listing links) runs in a short-lived thread that joined the namespace with setns(2).
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import ipaddress
import os
import re
import socket
import struct
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

IP = "ip"
NETNS_DIR = "/run/netns"
SYS_NET = "/sys/class/net"
IFNAMSIZ = 15  # usable characters in a Linux interface name
CLONE_NEWNET = 0x40000000
COMMAND_TIMEOUT = 30.0

# Tokens passed through `ip -batch` must not be split or commented out by its
# tokenizer (whitespace, quotes, '#'), so every token is checked against this.
_SAFE_TOKEN = re.compile(r"[A-Za-z0-9_.:/@%+=,-]+")
_IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}")
_NETNS_NAME = re.compile(r"[A-Za-z0-9_.-]{1,200}")
_IFACE_PREFIX = re.compile(r"[a-z][a-z0-9-]{0,5}")
# Room left after the stem for "m", "v0".."v99" or "p0".."p99".
_SUFFIX_ROOM = 3
_MIN_ID_CHARS = 6
MAX_VIP_PLUGS = 100
MAX_MEMBER_PLUGS = 100

T = TypeVar("T")


class IpCommandError(RuntimeError):
    """An `ip` (or related) command failed; `stderr` holds its complaint."""

    def __init__(self, cmd: Sequence[str], stderr: str, returncode: int = 1) -> None:
        self.cmd = list(cmd)
        self.stderr = stderr.strip()
        self.returncode = returncode
        super().__init__(f"{' '.join(self.cmd)!s} failed (rc={returncode}): {self.stderr}")


# -- validation and naming (pure logic) ------------------------------------------

def check_token(token: str) -> str:
    if not _SAFE_TOKEN.fullmatch(token):
        raise ValueError(f"unsafe argument for ip: {token!r}")
    return token


def check_ifname(name: str) -> str:
    if not _IFNAME.fullmatch(name) or name in (".", ".."):
        raise ValueError(f"invalid interface name {name!r} (1-15 of [A-Za-z0-9_.-])")
    return name


def check_netns_name(name: str) -> str:
    if not _NETNS_NAME.fullmatch(name) or name in (".", ".."):
        raise ValueError(f"invalid namespace name {name!r}")
    return name


def id_chars(amphora_id: str, count: int) -> str:
    """The first `count` hex characters of an id; ids that are not hex (UUID
    without dashes) are hashed so the result stays deterministic and hex."""
    raw = amphora_id.replace("-", "").lower()
    if len(raw) < count or not re.fullmatch(r"[0-9a-f]+", raw):
        raw = hashlib.sha256(amphora_id.encode()).hexdigest()
    return raw[:count]


def ifname_stem(prefix: str, amphora_id: str) -> str:
    """Deterministic start of every host-side interface name of one amphora:
    prefix + as many id characters as fit (10 with the default "pa")."""
    if not _IFACE_PREFIX.fullmatch(prefix):
        raise ValueError(f"interface prefix {prefix!r}: 1-6 of [a-z0-9-], starting with a letter")
    count = IFNAMSIZ - _SUFFIX_ROOM - len(prefix)
    if count < _MIN_ID_CHARS:  # unreachable with the regex above; kept as a guard
        raise ValueError(f"interface prefix {prefix!r} leaves too few id characters")
    return prefix + id_chars(amphora_id, count)


def mgmt_host_ifname(prefix: str, amphora_id: str) -> str:
    return ifname_stem(prefix, amphora_id) + "m"


def vip_host_ifname(prefix: str, amphora_id: str, index: int) -> str:
    if not 0 <= index < MAX_VIP_PLUGS:
        raise ValueError(f"VIP plug index {index} out of range 0..{MAX_VIP_PLUGS - 1}")
    return ifname_stem(prefix, amphora_id) + f"v{index}"


def member_host_ifname(prefix: str, amphora_id: str, slot: int) -> str:
    if not 0 <= slot < MAX_MEMBER_PLUGS:
        raise ValueError(f"member plug slot {slot} out of range 0..{MAX_MEMBER_PLUGS - 1}")
    return ifname_stem(prefix, amphora_id) + f"p{slot}"


def is_amphora_ifname(name: str, stem: str) -> bool:
    """True for exactly the names mgmt_host_ifname, vip_host_ifname and
    member_host_ifname give for `stem`."""
    return re.fullmatch(re.escape(stem) + r"(m|[vp][0-9]{1,2})", name) is not None


def bridge_mac(bridge: str) -> str:
    """A stable locally administered unicast MAC for a bridge. A bridge without an
    explicit address takes the lowest port MAC, so it would change as amphorae
    come and go and leave stale ARP entries for the gateway in every amphora."""
    digest = hashlib.sha256(b"portus-bridge:" + bridge.encode()).digest()
    octets = bytes([(digest[0] & 0xFC) | 0x02]) + digest[1:6]
    return ":".join(f"{b:02x}" for b in octets)


def parse_stat_state(stat_line: str) -> str:
    """The state letter of a /proc/PID/stat line (comm may hold spaces and ')')."""
    return stat_line[stat_line.rindex(")") + 2]


# -- running ip ------------------------------------------------------------------

def _run(argv: list[str], stdin: str | None = None) -> str:
    try:
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT, check=False)
    except FileNotFoundError:
        raise IpCommandError(argv, f"{argv[0]}: command not found", 127) from None
    except subprocess.TimeoutExpired:
        raise IpCommandError(argv, f"timed out after {COMMAND_TIMEOUT}s", -1) from None
    if proc.returncode != 0:
        raise IpCommandError(argv, proc.stderr or proc.stdout, proc.returncode)
    return proc.stdout


def run(args: Sequence[str], netns: str | None = None) -> str:
    """Run one `ip [-n NS] ARGS...` and return its stdout."""
    argv = [IP] + (["-n", check_netns_name(netns)] if netns else []) + list(args)
    return _run(argv)


def batch(commands: Sequence[Sequence[str]], netns: str | None = None,
          force: bool = False) -> None:
    """Run many ip commands in one process (`ip -batch -`). Without `force` ip stops
    at the first failure; the error then names the failing command."""
    if not commands:
        return
    lines = [" ".join(check_token(t) for t in cmd) for cmd in commands]
    argv = [IP] + (["-n", check_netns_name(netns)] if netns else [])
    argv += (["-force"] if force else []) + ["-batch", "-"]
    try:
        _run(argv, "\n".join(lines) + "\n")
    except IpCommandError as exc:
        failed = re.search(r"Command failed -:(\d+)", exc.stderr)
        if failed and 0 < int(failed.group(1)) <= len(lines):
            argv = argv + [f"<line {failed.group(1)}: {lines[int(failed.group(1)) - 1]}>"]
        raise IpCommandError(argv, exc.stderr, exc.returncode) from None


# -- host-side queries -------------------------------------------------------------

def link_exists(ifname: str, netns: str | None = None) -> bool:
    if netns is not None:
        return ifname in netns_links(netns)
    return os.path.exists(os.path.join(SYS_NET, check_ifname(ifname)))


def host_links() -> list[str]:
    return sorted(os.listdir(SYS_NET))


def link_peer_index(ifname: str) -> int | None:
    """ifindex of a veth's peer (in whatever namespace it lives), None if absent."""
    try:
        with open(os.path.join(SYS_NET, check_ifname(ifname), "iflink")) as fh:
            return int(fh.read())
    except (OSError, ValueError):
        return None


def link_master(ifname: str) -> str | None:
    try:
        return os.path.basename(os.readlink(os.path.join(SYS_NET, check_ifname(ifname), "master")))
    except OSError:
        return None


def link_mtu(ifname: str) -> int | None:
    try:
        with open(os.path.join(SYS_NET, check_ifname(ifname), "mtu")) as fh:
            return int(fh.read())
    except (OSError, ValueError):
        return None


def is_bridge(ifname: str) -> bool:
    return os.path.isdir(os.path.join(SYS_NET, check_ifname(ifname), "bridge"))


def netns_exists(name: str) -> bool:
    return os.path.exists(os.path.join(NETNS_DIR, check_netns_name(name)))


def list_netns() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def netns_add(name: str) -> None:
    if not netns_exists(name):
        try:
            run(["netns", "add", name])
        except IpCommandError:
            if not netns_exists(name):  # lost a race with another creator: fine
                raise


def netns_delete(name: str) -> None:
    if netns_exists(name):
        try:
            run(["netns", "del", name])
        except IpCommandError:
            if netns_exists(name):
                raise


# -- processes -------------------------------------------------------------------

def _ns_key(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def pid_netns_key(pid: int) -> tuple[int, int] | None:
    return _ns_key(f"/proc/{pid}/ns/net")


def netns_key(name: str) -> tuple[int, int] | None:
    return _ns_key(os.path.join(NETNS_DIR, check_netns_name(name)))


def netns_pids(name: str) -> list[int]:
    """PIDs whose network namespace is `name` (what `ip netns pids` does, without
    spawning). Zombies have no namespace left and are not listed."""
    key = netns_key(name)
    if key is None:
        return []
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and pid_netns_key(int(entry)) == key:
            pids.append(int(entry))
    return sorted(pids)


def pid_in_netns(pid: int, name: str) -> bool:
    key = netns_key(name)
    return key is not None and pid_netns_key(pid) == key


def pid_state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return parse_stat_state(fh.read())
    except (OSError, ValueError, IndexError):
        return None


def pid_alive(pid: int) -> bool:
    """Alive means present and not a zombie/dead: orphans are reaped late here, so
    `kill -0` keeps saying yes for seconds after they died."""
    return pid > 0 and pid_state(pid) not in (None, "Z", "X", "x")


# -- inside a namespace without spawning -------------------------------------------

_libc: ctypes.CDLL | None = None


def _setns(fd: int) -> None:
    setns = getattr(os, "setns", None)  # Python >= 3.12
    if setns is not None:
        setns(fd, CLONE_NEWNET)
        return
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def run_in_netns(name: str, fn: Callable[[], T]) -> T:
    """Call `fn` in a fresh thread that joined namespace `name`. setns(CLONE_NEWNET)
    is per thread and the thread ends afterwards, so the rest of the process never
    changes namespace. Sockets and /proc/sys/net opened by `fn` belong to `name`."""
    path = os.path.join(NETNS_DIR, check_netns_name(name))
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                _setns(fd)
            finally:
                os.close(fd)
            result.append(fn())
        except BaseException as exc:  # re-raised in the caller's thread
            error.append(exc)

    thread = threading.Thread(target=target, name=f"netns-{name}", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def netns_links(name: str) -> dict[str, int]:
    """Interface name -> ifindex inside namespace `name`; empty if it is missing."""
    if not netns_exists(name):
        return {}
    return run_in_netns(name, lambda: {n: i for i, n in socket.if_nameindex()})


_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
_IFREQ = struct.Struct("16sH22x")  # struct ifreq: name + ifr_flags, 40 bytes


def _link_up_current(ifname: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        name = check_ifname(ifname).encode()
        flags = _IFREQ.unpack(fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, _IFREQ.pack(name, 0)))[1]
        if not flags & _IFF_UP:
            fcntl.ioctl(sock.fileno(), _SIOCSIFFLAGS, _IFREQ.pack(name, flags | _IFF_UP))


def _sysctl_path(key: str) -> str:
    if not re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", key):
        raise ValueError(f"invalid sysctl key {key!r}")
    return "/proc/sys/" + key.replace(".", "/")


def _write_sysctls(values: Mapping[str, str], optional: frozenset[str]) -> None:
    for key, value in values.items():
        try:
            with open(_sysctl_path(key), "w") as fh:
                fh.write(value)
        except FileNotFoundError:
            if key not in optional:  # e.g. IPv6 disabled on the host
                raise


def netns_configure(name: str, sysctls: Mapping[str, str], up: Sequence[str] = ("lo",),
                    optional: Sequence[str] = ()) -> None:
    """Write sysctls and bring links up inside namespace `name`, in one thread trip.
    Keys in `optional` may be absent."""
    opt = frozenset(optional)

    def work() -> None:
        _write_sysctls(sysctls, opt)
        for ifname in up:
            _link_up_current(ifname)

    try:
        run_in_netns(name, work)
    except OSError as exc:
        raise IpCommandError(["netns-configure", name], f"{exc.strerror or exc}",
                             exc.errno or errno.EIO) from exc


def ensure_neigh_capacity(thresh3: int) -> None:
    """Raise the host's global neighbour (ARP) table limits, never lower them.

    The table is shared by every namespace and defaults to 1024 entries, which a
    couple of hundred amphorae exhaust. Host-wide and persistent until reboot, so
    only an operator-facing entry point should call this."""
    base = "/proc/sys/net/ipv4/neigh/default/"
    # Highest first so the kernel never sees thresh2 > thresh3 in between.
    wanted = {"gc_thresh3": thresh3, "gc_thresh2": thresh3 // 2,
              "gc_thresh1": max(128, thresh3 // 8)}
    for key, value in wanted.items():
        with open(base + key) as fh:
            current = int(fh.read())
        if value > current:
            with open(base + key, "w") as fh:
                fh.write(str(value))


# -- address announcements ------------------------------------------------------------

_ETH_P_ARP = 0x0806


def garp_frame(mac: bytes, address: str) -> bytes:
    """An unsolicited ARP request ("gratuitous ARP") announcing `address` at `mac`."""
    ip = socket.inet_aton(address)
    broadcast = b"\xff" * 6
    header = broadcast + mac + _ETH_P_ARP.to_bytes(2, "big")
    # htype Ethernet, ptype IPv4, hlen 6, plen 4, op request; sender = target = address.
    arp = b"\x00\x01\x08\x00\x06\x04\x00\x01" + mac + ip + b"\x00" * 6 + ip
    return header + arp


def announce(name: str, ifname: str, addresses: Sequence[str], count: int = 2) -> None:
    """Send gratuitous ARPs for IPv4 `addresses` from `ifname` in namespace `name`, so
    neighbours that cached an earlier owner's MAC (a deleted or failed amphora with the
    same VIP) move to this one at once instead of after their entry goes stale."""
    v4 = [a for a in addresses if ipaddress.ip_address(a).version == 4]
    if not v4:
        return

    def work() -> None:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ARP)) as sock:
            sock.bind((ifname, 0))
            mac = sock.getsockname()[4]
            for _ in range(count):
                for address in v4:
                    sock.send(garp_frame(mac, address))

    run_in_netns(name, work)
