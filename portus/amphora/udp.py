"""The agent's UDP/SCTP data plane: applies render_nft rulesets, checks the members,
and reports them in the heartbeat as HAProxy's members are.

STDLIB ONLY, like agent.py. One thread per checked member: it runs the pool's
monitor every `delay` seconds; `rise` successes bring a member up, `fall` failures
take it down (members start up, as HAProxy's do). A change of state re-applies the
whole table in one `nft -f` transaction; conntrack keeps established flows on their
member. Without UDP/SCTP listeners nothing here runs nft, so an amphora without nft
works as before.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time

from portus.common.osutil import write_atomic

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable
    from types import ModuleType


def _renderer() -> ModuleType:
    # Imported on first use: an amphora without UDP listeners never loads it (ipaddress).
    from portus.amphora import render_nft
    return render_nft

NFT_TIMEOUT = 30.0
CONNTRACK = "/proc/net/nf_conntrack"
FORWARDING = ("/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding")
# The VIP and the members share a subnet: no ICMP redirects telling clients to skip us.
NO_REDIRECTS = ("/proc/sys/net/ipv4/conf/all/send_redirects",
                "/proc/sys/net/ipv4/conf/default/send_redirects")


class NftError(Exception):
    pass


# -- checks: True when the member answers ----------------------------------------------

def _family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def check_udp(address: str, port: int, timeout: float) -> bool:
    """A datagram; an ICMP port unreachable (ECONNREFUSED) means down, silence means up."""
    with socket.socket(_family(address), socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.connect((address, port))
            s.send(b"\n")
            s.recv(512)
        except socket.timeout:
            return True
        except OSError:
            return False
    return True


def check_stream(address: str, port: int, timeout: float, proto: int = 0) -> bool:
    """A TCP (or SCTP: proto 132) connection is accepted. A kernel without SCTP fails
    to make the socket (EPROTONOSUPPORT): the member is down, as unreachable."""
    try:
        with socket.socket(_family(address), socket.SOCK_STREAM, proto) as s:
            s.settimeout(timeout)
            s.connect((address, port))
    except OSError:
        return False
    return True


def check_http(address: str, port: int, timeout: float, monitor: dict[str, Any]) -> bool:
    host = monitor.get("domain_name") or address
    version = "HTTP/1.1" if monitor.get("http_version") == 1.1 else "HTTP/1.0"
    request = (f"{monitor['http_method']} {monitor['url_path']} {version}\r\nHost: {host}\r\n"
               f"Connection: close\r\nUser-Agent: portus-health-check\r\n\r\n")
    try:
        with socket.create_connection((address, port), timeout=timeout) as s:
            s.sendall(request.encode("ascii"))
            head = b""
            while b"\r\n" not in head and len(head) < 4096:
                chunk = s.recv(4096)
                if not chunk:
                    break
                head += chunk
    except OSError:
        return False
    parts = head.split(b"\r\n", 1)[0].split()
    return (len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit()
            and int(parts[1]) in monitor["expected_codes"])


def probe(monitor: dict[str, Any], member: dict[str, Any]) -> bool:
    address = member.get("monitor_address") or member["address"]
    port = member.get("monitor_port") or member["port"]
    timeout = max(0.5, float(monitor["timeout"]))
    kind = monitor["type"]
    if kind == "UDP-CONNECT":
        return check_udp(address, port, timeout)
    if kind == "TCP":
        return check_stream(address, port, timeout)
    if kind == "SCTP":
        return check_stream(address, port, timeout, socket.IPPROTO_SCTP)
    return check_http(address, port, timeout, monitor)


class Member:
    """Up/down of one checked member: `fall` failures in a row take it down, `rise`
    successes in a row bring it back (members start up, as HAProxy's do)."""

    def __init__(self, rise: int, fall: int) -> None:
        self.rise, self.fall = rise, fall
        self.up = True
        self.streak = 0  # results in a row that disagree with the current state

    def record(self, ok: bool) -> bool:
        """Count one result; True when the member changed state."""
        if ok == self.up:
            self.streak = 0
            return False
        self.streak += 1
        if self.streak < (self.fall if self.up else self.rise):
            return False
        self.up, self.streak = ok, 0
        return True


# -- nft -------------------------------------------------------------------------------

def _nft(run: Callable[[list[str], float], tuple[int, str]], args: list[str]) -> str:
    try:
        rc, out = run(["nft", *args], NFT_TIMEOUT)
    except OSError as exc:  # nft missing, or too slow (TimeoutError)
        raise NftError(f"cannot run nft: {exc}") from None
    if rc != 0:
        raise NftError(f"nft {' '.join(args[:2])} failed: {out.strip()[-2000:]}")
    return out


def _write_sysctls(paths: tuple[str, ...], value: str) -> None:
    for path in paths:
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError:
            pass  # e.g. IPv6 disabled: nothing to forward there


class Dataplane:
    """The applied UDP document, member health and the nft table of one amphora."""

    def __init__(self, base_dir: str, run: Callable[[list[str], float], tuple[int, str]],
                 log: Callable[[str], None]) -> None:
        self.path = os.path.join(base_dir, "udp.json")
        self.ruleset = os.path.join(base_dir, "udp.nft")  # the last transaction, for nft -f
        self.run = run
        self.log = log
        self.lock = threading.Lock()
        self.doc: dict[str, Any] = {"listeners": []}
        self.generation = 0
        self.members: dict[tuple[str, str], Member] = {}  # (listener id, member id)
        self._stop = threading.Event()
        try:
            with open(self.path, encoding="utf-8") as f:
                saved = json.load(f)
            _renderer().check(saved["doc"])
            self.doc, self.generation = saved["doc"], int(saved["generation"])
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log(f"ignoring unreadable {self.path}: {exc}")
            return
        if self.doc["listeners"]:  # the agent restarted: checks resume, rules are rewritten
            try:
                self._apply(set())
            except NftError as exc:
                log(f"could not restore the UDP data plane: {exc}")
            self._start_checks()

    # -- configuration -------------------------------------------------------------
    def put(self, generation: int, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            doc = json.loads(body)
            _renderer().check(doc)
        except ValueError as exc:  # NftConfigError is a ValueError
            return 400, {"error": f"invalid UDP configuration: {exc}", "generation": self.generation}
        with self.lock:
            if generation < self.generation:
                return 409, {"error": f"generation {generation} is older than the applied "
                                      f"{self.generation}", "generation": self.generation}
            if doc == self.doc:
                self._save(generation, doc)
                return 200, {"generation": generation, "action": "unchanged"}
            old = self.doc
            self._stop_checks()
            self.doc = doc
            self.members = {k: v for k, v in self.members.items() if k in self._checked()}
            try:
                self._apply(_renderer().objects(old))
            except NftError as exc:
                self.doc = old
                self._start_checks()
                return 500, {"error": str(exc), "generation": self.generation}
            self._save(generation, doc)
            self._start_checks()
        return 200, {"generation": generation, "action": "applied"}

    def clear(self) -> None:
        with self.lock:
            self._stop_checks()
            if self.doc["listeners"]:
                try:
                    _nft(self.run, ["delete", "table", *_renderer().TABLE.split()])
                except NftError as exc:
                    self.log(f"could not remove the UDP table: {exc}")
            self.doc = {"listeners": []}
            self.members = {}
            self._save(self.generation, self.doc)

    def _save(self, generation: int, doc: dict[str, Any]) -> None:
        self.generation = generation
        write_atomic(self.path, json.dumps({"generation": generation, "doc": doc}).encode())

    def _apply(self, stale: set[tuple[str, str]]) -> None:
        """Write the whole table for the current health (caller holds the lock)."""
        if not self.doc["listeners"]:
            if stale:
                _nft(self.run, ["delete", "table", *_renderer().TABLE.split()])
            return
        _write_sysctls(FORWARDING, "1")
        _write_sysctls(NO_REDIRECTS, "0")
        up = {mid: m.up for (_, mid), m in self.members.items()}
        text = _renderer().render_ruleset(self.doc, up, stale)
        with open(self.ruleset, "w", encoding="ascii") as f:
            f.write(text)
        _nft(self.run, ["-f", self.ruleset])

    # -- health checks -------------------------------------------------------------
    def _checked(self) -> dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]]:
        out = {}
        for li in self.doc["listeners"]:
            pool = li.get("pool")
            if pool and pool.get("monitor"):
                for m in pool["members"]:
                    if m["enabled"]:
                        out[(li["id"], m["id"])] = (pool["monitor"], m)
        return out

    def _start_checks(self) -> None:
        self._stop = stop = threading.Event()
        for k, (monitor, member) in self._checked().items():
            state = self.members.setdefault(k, Member(monitor["rise"], monitor["fall"]))
            state.rise, state.fall = monitor["rise"], monitor["fall"]
            threading.Thread(target=self._check_loop, args=(stop, k, monitor, member),
                             name=f"check-{k[1]}", daemon=True).start()

    def _stop_checks(self) -> None:
        self._stop.set()

    def _check_loop(self, stop: threading.Event, k: tuple[str, str], monitor: dict[str, Any],
                    member: dict[str, Any]) -> None:
        delay = max(1.0, float(monitor["delay"]))
        while not stop.is_set():
            started = time.monotonic()
            try:
                ok = probe(monitor, member)
            except Exception as exc:  # a check never kills its thread
                self.log(f"health check of member {k[1]} failed to run: {exc!r}")
                ok = False
            with self.lock:
                state = self.members.get(k)
                if stop.is_set() or state is None:
                    return
                if state.record(ok):
                    self.log(f"member {k[1]} of listener {k[0]} is now "
                             f"{'UP' if state.up else 'DOWN'}")
                    try:
                        self._apply(set())
                    except NftError as exc:
                        self.log(f"could not update the UDP map: {exc}")
                    else:
                        if not state.up:
                            self._forget_flows(k[0], member)
            stop.wait(max(0.0, delay - (time.monotonic() - started)))

    def _forget_flows(self, listener_id: str, member: dict[str, Any]) -> None:
        """Delete the conntrack entries of flows mapped to a member that went down:
        otherwise each keeps going to it until its entry expires; deleted, its next
        packet is a new flow that the map sends to a live member."""
        protocol = next(li["protocol"] for li in self.doc["listeners"] if li["id"] == listener_id)
        family = "ipv6" if ":" in member["address"] else "ipv4"
        argv = ["conntrack", "-D", "-f", family, "-p", protocol.lower(),
                "--reply-src", member["address"], "--reply-port-src", str(member["port"])]
        try:
            rc, out = self.run(argv, NFT_TIMEOUT)
        except OSError as exc:  # no conntrack tool: entries expire on their own
            self.log(f"could not delete the flows of member {member['id']}: {exc}")
            return
        # 1 with "0 flow entries have been deleted" is not an error.
        if rc not in (0, 1):
            self.log(f"conntrack -D for member {member['id']} exited with {rc}: {out.strip()}")

    # -- heartbeat -----------------------------------------------------------------
    def report(self, listeners: dict[str, Any], pools: dict[str, Any]) -> None:
        """Add the UDP/SCTP listeners and pools to a heartbeat, in HAProxy's words."""
        with self.lock:
            doc = self.doc
            states = {k: m.up for k, m in self.members.items()}
        if not doc["listeners"]:
            return
        counters = self._counters()
        active = self._active_flows()
        marks = _renderer().marks(doc)
        for li in doc["listeners"]:
            k = _renderer().key(li["id"])
            rx, tx, new = (counters.get(f"{n}_{k}", (0, 0)) for n in ("rx", "tx", "new"))
            listeners[li["id"]] = {"status": "OPEN", "stats": {
                "rx": rx[1], "tx": tx[1], "conns": active.get(marks[li["id"]], 0),
                "totconns": new[0], "ereq": 0}}
            pool = li.get("pool")
            if pool is None:
                continue
            checked = bool(pool.get("monitor"))
            members = {}
            for m in pool["members"]:
                if not m["enabled"]:
                    members[m["id"]] = "MAINT"
                elif not checked:
                    members[m["id"]] = "no check"
                else:
                    members[m["id"]] = "UP" if states.get((li["id"], m["id"]), True) else "DOWN"
            up = any(v in ("UP", "no check") for v in members.values())
            pools[f"{pool['id']}:{li['id']}"] = {"status": "UP" if up else "DOWN",
                                                 "members": members}

    def _counters(self) -> dict[str, tuple[int, int]]:
        """Named counter -> (packets, bytes) of our table; empty when nft cannot say."""
        try:
            out = _nft(self.run, ["-j", "list", "counters", "table", *_renderer().TABLE.split()])
            items = json.loads(out).get("nftables", [])
        except (NftError, ValueError):
            return {}
        return {c["name"]: (int(c.get("packets", 0)), int(c.get("bytes", 0)))
                for c in (i.get("counter") for i in items) if isinstance(c, dict)}

    @staticmethod
    def _active_flows() -> dict[int, int]:
        """Conntrack entries per mark (this namespace's table)."""
        counts: dict[int, int] = {}
        try:
            with open(CONNTRACK, encoding="ascii", errors="replace") as f:
                for line in f:
                    at = line.find(" mark=")
                    if at >= 0:
                        mark = int(line[at + 6:].split(" ", 1)[0])
                        counts[mark] = counts.get(mark, 0) + 1
        except (OSError, ValueError):
            pass
        return counts

    def status(self) -> dict[str, Any]:
        with self.lock:
            return {"generation": self.generation, "config": self.doc,
                    "members": {f"{k[0]}/{k[1]}": m.up for k, m in self.members.items()}}
