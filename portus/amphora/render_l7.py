"""L7 policies and rules as haproxy frontend lines.

Every rule becomes ``acl <rule id> <fetch> [-i] [-m <match>] -- <value>``. Policies are
evaluated in position order and the first whose rules all match wins (Octavia's
documented semantics). haproxy runs every ``http-request`` rule before any
``use_backend``, so printing "deny"/"redirect"/"use_backend if <acls>" in position
order would let a later REJECT beat an earlier REDIRECT_TO_POOL. Instead the first
matching policy is recorded in a transaction variable, in position order, and each
action keys on that variable.

User values reach the configuration only strongly quoted (``'...'``: haproxy
interprets nothing inside, see its "Quoting and escaping"), with any single quote
written as ``'\\''``; control characters are refused. Redirect targets are also
log-format strings in haproxy, so ``%`` is doubled. ``--`` ends the ACL flags, so a
value starting with ``-`` stays a value.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from portus.amphora import render as r
from portus.amphora.spec import L7PolicySpec, L7RuleSpec, ListenerSpec

VAR = "txn.l7policy"
MAX_VALUE = 255
MAX_URL = 2048
REDIRECT_CODES = (301, 302, 303, 307, 308)
_MATCH = {"REGEX": "reg", "STARTS_WITH": "beg", "ENDS_WITH": "end", "CONTAINS": "sub",
          "EQUAL_TO": "str"}
_ACTIONS = ("REJECT", "REDIRECT_TO_URL", "REDIRECT_TO_POOL", "REDIRECT_PREFIX")
# Header and cookie names: HTTP token characters minus those haproxy's argument
# parser treats specially ("#", "$", "'", and of course "," ")" "\").
_TOKEN_RE = re.compile(r"[A-Za-z0-9!%&*+.^_`|~-]{1,255}")
_DN_FIELD_RE = re.compile(r"[a-zA-Z][A-Za-z0-9-]{0,254}")
_PRINTABLE_RE = re.compile(r"[\x20-\x7e]+")
_URL_RE = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True)
class L7Lines:
    rules: tuple[str, ...]  # acl and http-request lines, before any use_backend
    backends: tuple[str, ...]  # use_backend lines

    @property
    def routes(self) -> bool:
        return bool(self.backends)


def quote(value: object, what: str = "value") -> str:
    """Strongly quote one word for haproxy; refuse what cannot be quoted safely."""
    if (not isinstance(value, str) or not value or len(value) > MAX_URL
            or not _PRINTABLE_RE.fullmatch(value)):
        raise r.RenderError(f"unsafe {what} {value!r}")
    return "'" + value.replace("'", "'\\''") + "'"


def _key(rule: L7RuleSpec, pattern: re.Pattern[str]) -> str:
    if not isinstance(rule.key, str) or not pattern.fullmatch(rule.key):
        raise r.RenderError(f"unsafe key {rule.key!r} of L7 rule {rule.id}")
    return rule.key


def acl_line(rule: L7RuleSpec) -> str:
    name = r.check_identifier(rule.id, "L7 rule id")
    match = _MATCH.get(rule.compare_type)
    if match is None:
        raise r.RenderError(f"unsupported compare_type {rule.compare_type!r}")
    if not isinstance(rule.value, str) or len(rule.value) > MAX_VALUE:
        raise r.RenderError(f"unsafe value {rule.value!r} of L7 rule {rule.id}")
    value = quote(rule.value)
    kind = rule.type
    if kind == "HOST_NAME":
        test = f"req.hdr(host) -i -m {match} -- {value}"
    elif kind == "PATH":
        test = f"path -m {match} -- {value}"
    elif kind == "FILE_TYPE":
        if rule.compare_type not in ("EQUAL_TO", "REGEX"):
            raise r.RenderError(f"FILE_TYPE rule {rule.id} cannot use {rule.compare_type}")
        test = f"path_end -- {value}" if match == "str" else f"path_end -m reg -- {value}"
    elif kind == "HEADER":
        test = f"req.hdr({_key(rule, _TOKEN_RE)}) -m {match} -- {value}"
    elif kind == "COOKIE":
        test = f"req.cook({_key(rule, _TOKEN_RE)}) -m {match} -- {value}"
    elif kind == "SSL_DN_FIELD":
        test = f"ssl_c_s_dn({_key(rule, _DN_FIELD_RE)}) -m {match} -- {value}"
    elif kind == "SSL_CONN_HAS_CERT":
        if rule.value != "true":
            raise r.RenderError(f"SSL_CONN_HAS_CERT rule {rule.id} needs the value 'true'")
        test = "ssl_c_used"
    elif kind == "SSL_VERIFY_RESULT":
        if not rule.value.isdigit() or not rule.value.isascii():
            raise r.RenderError(f"SSL_VERIFY_RESULT rule {rule.id} needs an integer value")
        test = f"ssl_c_verify eq {r.check_int(int(rule.value), 'verify result', 0, 2**31 - 1)}"
    else:
        raise r.RenderError(f"unsupported L7 rule type {kind!r}")
    return f"acl {name} {test}"


def redirect_target(value: object, what: str) -> str:
    """An absolute http(s) URL, quoted, with "%" doubled (a log-format string)."""
    if (not isinstance(value, str) or len(value) > MAX_URL or not _URL_RE.fullmatch(value)
            or urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc):
        raise r.RenderError(f"unsafe {what} {value!r}")
    return quote(value.replace("%", "%%"), what)


def _action(policy: L7PolicySpec, chosen: str, backends: dict[str, str]) -> tuple[str, str]:
    """(http-request line, use_backend line); one of them empty."""
    if policy.action == "REJECT":
        return f"http-request deny if {chosen}", ""
    if policy.action == "REDIRECT_TO_POOL":
        pool = policy.redirect_pool
        assert pool is not None and pool.id in backends
        return "", f"use_backend {backends[pool.id]} if {chosen}"
    code = policy.redirect_http_code if policy.redirect_http_code is not None else 302
    if code not in REDIRECT_CODES:
        raise r.RenderError(f"unsupported redirect_http_code {code!r}")
    if policy.action == "REDIRECT_TO_URL":
        where = f"location {redirect_target(policy.redirect_url, 'redirect_url')}"
    else:
        where = f"prefix {redirect_target(policy.redirect_prefix, 'redirect_prefix')}"
    return f"http-request redirect code {code} {where} if {chosen}", ""


def l7_lines(listener: ListenerSpec, backends: dict[str, str]) -> L7Lines:
    """Lines for the listener's policies. `backends` maps the id of every enabled
    redirect pool to its backend name; a policy routing to another pool is skipped
    (Octavia renders use_backend only for an enabled pool)."""
    if not listener.l7policies:
        return L7Lines((), ())
    if listener.protocol not in ("HTTP", "TERMINATED_HTTPS"):
        raise r.RenderError(f"L7 policies on {listener.protocol} listener {listener.id}")
    acls: list[str] = []
    picks: list[str] = []
    actions: list[str] = []
    uses: list[str] = []
    seen: set[str] = set()
    ordered = sorted(listener.l7policies, key=lambda p: p.position)
    for policy in ordered:
        pid = r.check_identifier(policy.id, "L7 policy id")
        if policy.action not in _ACTIONS:
            raise r.RenderError(f"unsupported L7 action {policy.action!r}")
        if policy.action == "REDIRECT_TO_POOL" and (
                policy.redirect_pool is None or policy.redirect_pool.id not in backends):
            continue
        if not policy.rules:
            continue
        conditions = []
        for rule in policy.rules:
            if rule.id in seen:
                raise r.RenderError(f"duplicate L7 rule id {rule.id!r}")
            seen.add(rule.id)
            acls.append(acl_line(rule))
            conditions.append(("!" if rule.invert else "") + rule.id)
        picks.append(f"http-request set-var({VAR}) str({pid}) "
                     f"if !{{ var({VAR}) -m found }} {' '.join(conditions)}")
        request_line, backend_line = _action(policy, f"{{ var({VAR}) -m str {pid} }}", backends)
        if request_line:
            actions.append(request_line)
        if backend_line:
            uses.append(backend_line)
    return L7Lines(tuple(acls + picks + actions), tuple(uses))


def no_pool_condition(lines: L7Lines) -> str:
    """Suffix of the "no default pool" deny, so L7-routed requests still get through."""
    return f" unless {{ var({VAR}) -m found }}" if lines.routes else ""
