"""The UDP/SCTP data plane of an amphora: nftables DNAT from VIP:port to the members.

HAProxy carries no UDP or SCTP and this kernel has no IPVS, so these listeners are
kernel NAT rules in the amphora's namespace, in one table (`inet portus`):

* prerouting (nat): a new flow to VIP:port gets the listener's conntrack mark and is
  DNATed to a member picked from the listener's map: `numgen inc mod N` for
  ROUND_ROBIN (and LEAST_CONNECTIONS, see below), `jhash <saddr & granularity> mod N`
  for SOURCE_IP. A member appears `weight` times in the map, so the share of new
  flows follows the weights. Conntrack keeps each flow on its member, so rewriting
  the map never moves an established flow.
* postrouting (nat): marked flows are masqueraded to the VIP, so members answer
  through the amphora whatever their default route is (keepalived's `lb_kind NAT`
  relies on the member's route instead).
* forward (filter): per-listener named counters of bytes in (original direction)
  and out (reply direction); `new_*` counts flows. They feed the heartbeat.
* raw: a UDP pool's SOURCE_IP `persistence_timeout` becomes the conntrack timeout of
  its flows (how long an idle client stays on its member).

Only enabled members that pass their health check are in a map; backup members only
when no primary is. A listener with no member up has no DNAT rule: the VIP answers
its datagrams with ICMP port unreachable, as a closed port.

LEAST_CONNECTIONS: nftables cannot pick the member with the fewest flows (no rule
reads per-member conntrack counts), so it is rendered like ROUND_ROBIN: new flows
go to the members in turn, by weight. That equals least-connections when flows
have similar lifetimes, and is said so in docs/operator-guide.md.

Two halves, both STDLIB ONLY (the amphora agent imports this module):
``udp_config`` runs in the worker and turns a LoadBalancerSpec into a plain,
checked document that is pushed to the agent; ``render_ruleset`` runs in the agent
with the members' health and returns one `nft -f` transaction (flush and re-add
everything), so the kernel swaps the whole ruleset atomically.
"""
from __future__ import annotations

import ipaddress
import re
import zlib

TYPE_CHECKING = False  # keeps `typing` unloaded in the agent (see portus.common.heartbeat)
if TYPE_CHECKING:
    from typing import Any

    from portus.amphora.spec import LoadBalancerSpec, PoolSpec

TABLE = "inet portus"
L4_PROTOCOLS = ("UDP", "SCTP")
ALGORITHMS = ("ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP")
MONITOR_TYPES = ("UDP-CONNECT", "SCTP", "TCP", "HTTP")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH")
DEFAULT_PERSISTENCE_TIMEOUT = 360  # s, Octavia's
MAX_SLOTS = 65536  # map entries per listener and family (256 members of weight 256)
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_URL_PATH_RE = re.compile(r"/[A-Za-z0-9\-._~%!$&()*+,;=:@/?]{0,2047}")
_DOMAIN_RE = re.compile(r"[A-Za-z0-9.-]{1,255}")


class NftConfigError(ValueError):
    """A UDP/SCTP document that cannot be rendered safely."""


# -- checks (the agent re-checks what it is sent: it runs nft with it) ---------------

def _ident(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise NftConfigError(f"unsafe {what} {value!r}")
    return value


def _int(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise NftConfigError(f"{what} must be an integer in [{low}, {high}], got {value!r}")
    return value


def _ip(value: Any, what: str) -> str:
    if not isinstance(value, str) or "%" in value:
        raise NftConfigError(f"unsafe {what} {value!r}")
    try:
        return ipaddress.ip_address(value).compressed
    except ValueError:
        raise NftConfigError(f"unsafe {what} {value!r}") from None


def _family(address: str) -> int:
    return ipaddress.ip_address(address).version


# -- worker side: LoadBalancerSpec -> document ---------------------------------------

def _expected_codes(text: str | None) -> list[int]:
    codes: set[int] = set()
    for item in (text or "200").split(","):
        low, _, high = item.strip().partition("-")
        codes.update(range(int(low), int(high or low) + 1))
    return sorted(codes)


def _pool_doc(pool: PoolSpec) -> dict[str, Any]:
    sp = pool.session_persistence or {}
    persistence = None
    if pool.lb_algorithm == "SOURCE_IP" or sp.get("type") == "SOURCE_IP":
        persistence = {"timeout": sp.get("persistence_timeout"),
                       "granularity": sp.get("persistence_granularity")}
    hm = pool.health_monitor
    monitor = None
    if hm is not None and hm.enabled:
        monitor = {"type": hm.type, "delay": hm.delay, "timeout": hm.timeout, "rise": hm.rise,
                   "fall": hm.fall}
        if hm.type == "HTTP":
            monitor.update(http_method=hm.http_method or "GET", url_path=hm.url_path or "/",
                           expected_codes=_expected_codes(hm.expected_codes),
                           http_version=hm.http_version or 1.0, domain_name=hm.domain_name)
    return {
        "id": pool.id, "algorithm": pool.lb_algorithm, "persistence": persistence,
        "monitor": monitor,
        "members": [{"id": m.id, "address": m.address, "port": m.port, "weight": m.weight,
                     "backup": m.backup, "enabled": m.enabled,
                     "monitor_address": m.monitor_address, "monitor_port": m.monitor_port}
                    for m in pool.members],
    }


def udp_config(lb: LoadBalancerSpec) -> dict[str, Any]:
    """The UDP/SCTP part of a load balancer, checked, for PUT /1.0/udp."""
    vips = [lb.vip_address, *lb.additional_vips]
    listeners = []
    for li in lb.listeners:
        if li.protocol not in L4_PROTOCOLS or not (lb.enabled and li.enabled):
            continue
        pool = li.default_pool
        listeners.append({
            "id": li.id, "protocol": li.protocol, "port": li.port, "vips": vips,
            "allowed_cidrs": list(li.allowed_cidrs),
            "pool": _pool_doc(pool) if pool is not None and pool.enabled else None})
    doc = {"listeners": listeners}
    check(doc)
    return doc


def check(doc: Any) -> None:
    """Raise NftConfigError unless every value of the document is safe to render."""
    if not isinstance(doc, dict) or not isinstance(doc.get("listeners"), list):
        raise NftConfigError("a UDP document is {\"listeners\": [...]}")
    seen: set[str] = set()
    for li in doc["listeners"]:
        if not isinstance(li, dict):
            raise NftConfigError(f"bad listener {li!r}")
        lid = _ident(li.get("id"), "listener id")
        if lid in seen:
            raise NftConfigError(f"duplicate listener {lid}")
        seen.add(lid)
        if li.get("protocol") not in L4_PROTOCOLS:
            raise NftConfigError(f"listener protocol {li.get('protocol')!r}")
        _int(li.get("port"), "listener port", 1, 65535)
        if not isinstance(li.get("vips"), list) or not li["vips"]:
            raise NftConfigError("a listener needs its VIPs")
        for vip in li["vips"]:
            _ip(vip, "vip")
        for cidr in li.get("allowed_cidrs") or []:
            try:
                ipaddress.ip_network(cidr)
            except (TypeError, ValueError):
                raise NftConfigError(f"allowed_cidrs entry {cidr!r}") from None
        if li.get("pool") is not None:
            _check_pool(li["pool"])


def _check_pool(pool: Any) -> None:
    if not isinstance(pool, dict) or not isinstance(pool.get("members"), list):
        raise NftConfigError(f"bad pool {pool!r}")
    _ident(pool.get("id"), "pool id")
    if pool.get("algorithm") not in ALGORITHMS:
        raise NftConfigError(f"lb_algorithm {pool.get('algorithm')!r}")
    persistence = pool.get("persistence")
    if persistence is not None:
        if not isinstance(persistence, dict):
            raise NftConfigError(f"bad persistence {persistence!r}")
        if persistence.get("timeout") is not None:
            _int(persistence["timeout"], "persistence_timeout", 0, 2**31 - 1)
        if persistence.get("granularity") is not None:
            _ip(persistence["granularity"], "persistence_granularity")
    monitor = pool.get("monitor")
    if monitor is not None:
        if not isinstance(monitor, dict):
            raise NftConfigError(f"bad monitor {monitor!r}")
        if monitor.get("type") not in MONITOR_TYPES:
            raise NftConfigError(f"health monitor type {monitor.get('type')!r}")
        for key in ("delay", "timeout"):
            _int(monitor.get(key), f"health monitor {key}", 0, 2**31 - 1)
        for key in ("rise", "fall"):
            _int(monitor.get(key), f"health monitor {key}", 1, 100)
        if monitor["type"] == "HTTP":
            if monitor.get("http_method") not in HTTP_METHODS:
                raise NftConfigError(f"http_method {monitor.get('http_method')!r}")
            if not _URL_PATH_RE.fullmatch(str(monitor.get("url_path"))):
                raise NftConfigError(f"unsafe url_path {monitor.get('url_path')!r}")
            if monitor.get("domain_name") is not None and not _DOMAIN_RE.fullmatch(
                    str(monitor["domain_name"])):
                raise NftConfigError(f"unsafe domain_name {monitor['domain_name']!r}")
            codes = monitor.get("expected_codes")
            if not isinstance(codes, list) or not codes:
                raise NftConfigError("expected_codes must be a list of codes")
            for code in codes:
                _int(code, "expected code", 100, 599)
    ids: set[str] = set()
    for m in pool["members"]:
        if not isinstance(m, dict):
            raise NftConfigError(f"bad member {m!r}")
        ids.add(_ident(m.get("id"), "member id"))
        _ip(m.get("address"), "member address")
        _int(m.get("port"), "member port", 1, 65535)
        _int(m.get("weight"), "member weight", 0, 256)
        if not (isinstance(m.get("enabled"), bool) and isinstance(m.get("backup"), bool)):
            raise NftConfigError(f"member {m['id']}: enabled and backup must be booleans")
        if m.get("monitor_address") is not None:
            _ip(m["monitor_address"], "monitor_address")
        if m.get("monitor_port") is not None:
            _int(m["monitor_port"], "monitor_port", 1, 65535)
    if len(ids) != len(pool["members"]):
        raise NftConfigError(f"duplicate member id in pool {pool['id']}")


# -- agent side: document + member health -> nft transaction ---------------------------

def key(listener_id: str) -> str:
    """The suffix of a listener's nft object names (ids without dashes)."""
    return listener_id.replace("-", "")


def marks(doc: dict[str, Any]) -> dict[str, int]:
    """A stable, non-zero conntrack mark per listener, derived from its id."""
    out: dict[str, int] = {}
    used: set[int] = set()
    for lid in sorted(li["id"] for li in doc["listeners"]):
        mark = zlib.crc32(lid.encode()) & 0x0FFFFFFF or 1
        while mark in used:  # two ids with one checksum: the later one in order moves on
            mark = mark % 0x0FFFFFFF + 1
        used.add(mark)
        out[lid] = mark
    return out


def serving_members(pool: dict[str, Any], up: dict[str, bool]) -> list[dict[str, Any]]:
    """The members new flows may go to: enabled and up primaries, else such backups."""
    live = [m for m in pool["members"] if m["enabled"] and up.get(m["id"], True)]
    primaries = [m for m in live if not m["backup"]]
    return primaries or [m for m in live if m["backup"]]


def _slots(members: list[dict[str, Any]], family: int) -> list[tuple[str, int]]:
    # Interleaved by weight (a, b, a, b, a ...), not a run of a then a run of b: the same
    # spread, and short bursts already alternate.
    weights = {m["id"]: m["weight"] for m in members}
    rounds = max(weights.values(), default=0)
    out = [(m["address"], m["port"]) for r in range(rounds) for m in members
           if r < m["weight"] and _family(m["address"]) == family]
    return out[:MAX_SLOTS]


def _addr(address: str, port: int) -> str:
    return f"{ipaddress.ip_address(address).compressed} . {port}"


def objects(doc: dict[str, Any]) -> set[tuple[str, str]]:
    """The named nft objects (kind, name) a document needs besides the chains."""
    out: set[tuple[str, str]] = set()
    for li in doc["listeners"]:
        k = key(li["id"])
        out |= {("counter", f"rx_{k}"), ("counter", f"tx_{k}"), ("counter", f"new_{k}")}
        for family in sorted({_family(v) for v in li["vips"]}):
            out.add(("map", f"m{family}_{k}"))
            if _timeout(li) is not None:
                out.add(("ct timeout", f"to{family}_{k}"))
    return out


def _timeout(li: dict[str, Any]) -> int | None:
    pool = li.get("pool") or {}
    persistence = pool.get("persistence")
    if li["protocol"] != "UDP" or not persistence:
        return None
    value = persistence.get("timeout")
    return DEFAULT_PERSISTENCE_TIMEOUT if value is None else max(1, value)


def render_ruleset(doc: dict[str, Any], up: dict[str, bool],
                   stale: set[tuple[str, str]] | None = None) -> str:
    """One `nft -f` transaction: the whole table from `doc`, members filtered by `up`
    (member id -> passes its check; absent means up). `stale` objects (those of the
    previous document) that `doc` no longer has are deleted."""
    check(doc)
    lines = [f"add table {TABLE}", f"flush table {TABLE}",
             f"add chain {TABLE} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}",
             f"add chain {TABLE} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}",
             f"add chain {TABLE} forward {{ type filter hook forward priority filter; policy accept; }}",
             f"add chain {TABLE} raw {{ type filter hook prerouting priority raw; policy accept; }}"]
    listener_marks = marks(doc)
    for li in doc["listeners"]:
        lines += _listener_lines(li, listener_marks[li["id"]], up)
    for kind, name in sorted((stale or set()) - objects(doc)):
        lines.append(f"delete {kind} {TABLE} {name}")
    return "\n".join(lines) + "\n"


def _listener_lines(li: dict[str, Any], mark: int, up: dict[str, bool]) -> list[str]:
    k = key(li["id"])
    proto = li["protocol"].lower()
    lines = [f"add counter {TABLE} {name}_{k}" for name in ("rx", "tx", "new")]
    pool = li.get("pool")
    serving = serving_members(pool, up) if pool else []
    timeout = _timeout(li)
    for family in sorted({_family(v) for v in li["vips"]}):
        ip = "ip" if family == 4 else "ip6"
        name = f"m{family}_{k}"
        if timeout is not None:
            lines.append(f"add ct timeout {TABLE} to{family}_{k} {{ protocol udp; l3proto {ip}; "
                         f"policy = {{ unreplied : {timeout}, replied : {timeout} }}; }}")
        lines += [f"add map {TABLE} {name} {{ typeof numgen inc mod 2 : {ip} daddr . {proto} dport; }}",
                  f"flush map {TABLE} {name}"]
        for vip in li["vips"]:  # before the check below: a closed port filters too
            if _family(vip) == family:
                lines += _source_filter(li.get("allowed_cidrs") or [], family, ip,
                                        _match(ip, vip, proto, li["port"]))
        slots = _slots(serving, family)
        if not slots:
            continue  # nothing to send to: the closed port answers
        elements = ", ".join(f"{i} : {_addr(a, p)}" for i, (a, p) in enumerate(slots))
        lines.append(f"add element {TABLE} {name} {{ {elements} }}")
        pick = f"numgen inc mod {len(slots)}"
        if pool and pool.get("persistence") is not None:  # SOURCE_IP, or its persistence
            pick = f"jhash {ip} saddr{_mask(pool, family)} mod {len(slots)} seed 0x{mark:x}"
        for vip in li["vips"]:
            if _family(vip) != family:
                continue
            match = _match(ip, vip, proto, li["port"])
            lines.append(f"add rule {TABLE} prerouting {match} ct mark set 0x{mark:x} "
                         f"counter name new_{k} dnat {ip} to {pick} map @{name}")
            if timeout is not None:
                lines.append(f'add rule {TABLE} raw {match} ct timeout set "to{family}_{k}"')
    lines += [f"add rule {TABLE} postrouting ct mark 0x{mark:x} ct status dnat masquerade",
              f"add rule {TABLE} forward ct mark 0x{mark:x} ct direction original counter name rx_{k}",
              f"add rule {TABLE} forward ct mark 0x{mark:x} ct direction reply counter name tx_{k}"]
    return lines


def _match(ip: str, vip: str, proto: str, port: int) -> str:
    return f"{ip} daddr {ipaddress.ip_address(vip).compressed} {proto} dport {port}"


def _source_filter(cidrs: list[str], family: int, ip: str, match: str) -> list[str]:
    """allowed_cidrs: drop other sources before they are NATed (empty: all allowed)."""
    if not cidrs:
        return []
    mine = [str(ipaddress.ip_network(c)) for c in cidrs if ipaddress.ip_network(c).version == family]
    if not mine:
        return [f"add rule {TABLE} raw {match} drop"]
    return [f"add rule {TABLE} raw {match} {ip} saddr != {{ {', '.join(mine)} }} drop"]


def _mask(pool: dict[str, Any], family: int) -> str:
    granularity = (pool.get("persistence") or {}).get("granularity")
    if granularity is None or _family(granularity) != family:
        return ""
    return f" & {ipaddress.ip_address(granularity).compressed}"
