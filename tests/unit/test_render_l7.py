"""L7 policies and rules in the rendered haproxy.cfg (portus.amphora.render_l7).

Structure is checked on the text, validity with ``haproxy -c``, and quoting with a
real haproxy on loopback: a value full of quotes, backslashes, "$" and "#" must
match literally and must not add a line to the configuration.
"""
from __future__ import annotations

import dataclasses
import http.client
import itertools
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

from portus.amphora import render_l7
from portus.amphora.render import RenderError, render_haproxy
from portus.amphora.spec import (AmphoraRuntime, L7PolicySpec, L7RuleSpec, ListenerSpec,
                                 LoadBalancerSpec, MemberSpec, PoolSpec)
from tests.unit.test_render import HAPROXY, _haproxy_check, needs_haproxy, sections

AMP = AmphoraRuntime(amphora_id="amp-1", base_dir="/var/lib/portus/amp-1", maxconn=8000)
NASTY = "a 'b' \"c\" \\d $HOME #x -m reg"


def pool(pid: str = "pa", enabled: bool = True, port: int = 8080) -> PoolSpec:
    return PoolSpec(id=pid, protocol="HTTP", lb_algorithm="ROUND_ROBIN", enabled=enabled,
                    members=(MemberSpec(id=f"m-{pid}", address="127.0.0.1", port=port),))


def rule(rid: str = "r1", type: str = "PATH", compare_type: str = "STARTS_WITH",
         value: str = "/api", **kw: Any) -> L7RuleSpec:
    return L7RuleSpec(id=rid, type=type, compare_type=compare_type, value=value, **kw)


def policy(pid: str = "p1", action: str = "REJECT", position: int = 1,
           rules: tuple[L7RuleSpec, ...] | None = None, **kw: Any) -> L7PolicySpec:
    return L7PolicySpec(id=pid, action=action, position=position,
                        rules=rules if rules is not None else (rule(f"{pid}-r"),), **kw)


def lb(*policies: L7PolicySpec, default: PoolSpec | None = None, port: int = 80,
       vip: str = "203.0.113.5") -> LoadBalancerSpec:
    listener = ListenerSpec(id="l1", protocol="HTTP", port=port,
                            default_pool=default if default is not None else pool(),
                            l7policies=tuple(policies))
    return LoadBalancerSpec(id="lb-1", project_id="p", vip_address=vip, generation=1,
                            listeners=(listener,))


def frontend(spec: LoadBalancerSpec) -> list[str]:
    return sections(render_haproxy(spec, AMP))["frontend l1"]


# --- ACL lines ---------------------------------------------------------------------

@pytest.mark.parametrize("spec, line", [
    (rule(type="HOST_NAME", compare_type="EQUAL_TO", value="a.example"),
     "acl r1 req.hdr(host) -i -m str -- 'a.example'"),
    (rule(type="PATH", compare_type="REGEX", value=r"^/v\d+$"), r"acl r1 path -m reg -- '^/v\d+$'"),
    (rule(type="PATH", compare_type="STARTS_WITH"), "acl r1 path -m beg -- '/api'"),
    (rule(type="PATH", compare_type="ENDS_WITH", value=".js"), "acl r1 path -m end -- '.js'"),
    (rule(type="PATH", compare_type="CONTAINS", value="x"), "acl r1 path -m sub -- 'x'"),
    (rule(type="FILE_TYPE", compare_type="EQUAL_TO", value="jpg"), "acl r1 path_end -- 'jpg'"),
    (rule(type="FILE_TYPE", compare_type="REGEX", value=r"\.png$"),
     r"acl r1 path_end -m reg -- '\.png$'"),
    (rule(type="HEADER", key="X-Env", compare_type="EQUAL_TO", value="prod"),
     "acl r1 req.hdr(X-Env) -m str -- 'prod'"),
    (rule(type="COOKIE", key="sid", compare_type="CONTAINS", value="z"),
     "acl r1 req.cook(sid) -m sub -- 'z'"),
    (rule(type="SSL_CONN_HAS_CERT", compare_type="EQUAL_TO", value="true"), "acl r1 ssl_c_used"),
    (rule(type="SSL_VERIFY_RESULT", compare_type="EQUAL_TO", value="10"),
     "acl r1 ssl_c_verify eq 10"),
    (rule(type="SSL_DN_FIELD", key="CN", compare_type="STARTS_WITH", value="c"),
     "acl r1 ssl_c_s_dn(CN) -m beg -- 'c'"),
    (rule(value="it's"), "acl r1 path -m beg -- 'it'\\''s'"),
    (rule(value="-f /etc/passwd"), "acl r1 path -m beg -- '-f /etc/passwd'"),
])
def test_acl_line(spec: L7RuleSpec, line: str) -> None:
    assert render_l7.acl_line(spec) == line


@pytest.mark.parametrize("bad", [
    rule(value="a\nb"), rule(value="a\rb"), rule(value="a\x00b"), rule(value="\t"),
    rule(value=""), rule(value="v" * 256), rule(value="caf\u00e9"),
    rule(type="HEADER", key=None), rule(type="HEADER", key="a b"), rule(type="HEADER", key="a'b"),
    rule(type="COOKIE", key="a)b"), rule(type="HEADER", key="$X"), rule(type="HEADER", key="#x"),
    rule(type="SSL_DN_FIELD", key="C,N"), rule(type="SSL_VERIFY_RESULT", compare_type="EQUAL_TO",
                                               value="1 || 1"),
    rule(type="SSL_CONN_HAS_CERT", compare_type="EQUAL_TO", value="yes"),
    rule(type="FILE_TYPE", compare_type="CONTAINS"), rule(type="NOPE"),
    rule(compare_type="LIKE"), rule(rid="r 1"), rule(rid="r\n1"),
])
def test_unsafe_rules_are_refused(bad: L7RuleSpec) -> None:
    with pytest.raises(RenderError):
        render_haproxy(lb(policy(rules=(bad,))), AMP)


@pytest.mark.parametrize("fields", [
    {"action": "REDIRECT_TO_URL", "redirect_url": "http://a b"},
    {"action": "REDIRECT_TO_URL", "redirect_url": "http://a\nb"},
    {"action": "REDIRECT_TO_URL", "redirect_url": "/relative"},
    {"action": "REDIRECT_TO_URL", "redirect_url": "javascript:alert(1)"},
    {"action": "REDIRECT_TO_URL", "redirect_url": None},
    {"action": "REDIRECT_PREFIX", "redirect_prefix": "ftp://x"},
    {"action": "REDIRECT_TO_URL", "redirect_url": "http://x", "redirect_http_code": 200},
    {"action": "DROP"},
])
def test_unsafe_policies_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(RenderError):
        render_haproxy(lb(policy(**fields)), AMP)


def test_l7_on_a_tcp_listener_is_refused() -> None:
    listener = ListenerSpec(id="l1", protocol="TCP", port=80, l7policies=(policy(),))
    with pytest.raises(RenderError):
        render_haproxy(LoadBalancerSpec(id="lb", project_id="p", vip_address="192.0.2.1",
                                        generation=1, listeners=(listener,)), AMP)


# --- policies ----------------------------------------------------------------------

def test_policies_in_position_order_with_first_match_semantics() -> None:
    spec = lb(policy("p3", "REDIRECT_TO_URL", 3, redirect_url="https://x.example/a%20b"),
              policy("p1", "REDIRECT_TO_POOL", 1, redirect_pool=pool("pb")),
              policy("p2", "REJECT", 2, rules=(rule("a"), rule("b", invert=True))),
              policy("p4", "REDIRECT_PREFIX", 4, redirect_prefix="http://y.example",
                     redirect_http_code=308))
    lines = frontend(spec)
    picks = [line for line in lines if "set-var" in line]
    assert picks == [
        "http-request set-var(txn.l7policy) str(p1) if !{ var(txn.l7policy) -m found } p1-r",
        "http-request set-var(txn.l7policy) str(p2) if !{ var(txn.l7policy) -m found } a !b",
        "http-request set-var(txn.l7policy) str(p3) if !{ var(txn.l7policy) -m found } p3-r",
        "http-request set-var(txn.l7policy) str(p4) if !{ var(txn.l7policy) -m found } p4-r"]
    assert "http-request deny if { var(txn.l7policy) -m str p2 }" in lines
    assert ("http-request redirect code 302 location 'https://x.example/a%%20b' "
            "if { var(txn.l7policy) -m str p3 }") in lines
    assert ("http-request redirect code 308 prefix 'http://y.example' "
            "if { var(txn.l7policy) -m str p4 }") in lines
    assert "use_backend pb:l1 if { var(txn.l7policy) -m str p1 }" in lines
    # ACLs come first, use_backend after every http-request and before default_backend.
    kinds = [line.split()[0] for line in lines]
    assert kinds.index("acl") < kinds.index("http-request")
    assert max(i for i, k in enumerate(kinds) if k == "http-request") < kinds.index("use_backend")
    assert kinds.index("use_backend") < kinds.index("default_backend")
    assert "backend pb:l1" in sections(render_haproxy(spec, AMP))


def test_redirect_pool_backend_rendered_once() -> None:
    spec = lb(policy("p1", "REDIRECT_TO_POOL", 1, redirect_pool=pool("pb")),
              policy("p2", "REDIRECT_TO_POOL", 2, redirect_pool=pool("pb")),
              policy("p3", "REDIRECT_TO_POOL", 3, redirect_pool=pool("pa")))
    names = [s for s in sections(render_haproxy(spec, AMP)) if s.startswith("backend ")]
    assert names == ["backend pa:l1", "backend pb:l1"]


def test_disabled_redirect_pool_skips_the_policy() -> None:
    lines = frontend(lb(policy("p1", "REDIRECT_TO_POOL", 1, redirect_pool=pool("pb", False)),
                        policy("p2", "REJECT", 2)))
    assert not any("p1" in line for line in lines)
    assert any("str(p2)" in line for line in lines)


def test_policy_without_rules_renders_nothing() -> None:
    lines = frontend(lb(policy(rules=())))
    assert not any(line.startswith(("acl", "http-request")) for line in lines)


def test_no_default_pool_still_routes_l7() -> None:
    spec = lb(policy("p1", "REDIRECT_TO_POOL", 1, redirect_pool=pool("pb")),
              default=PoolSpec(id="px", protocol="HTTP", lb_algorithm="ROUND_ROBIN",
                               enabled=False))
    lines = frontend(spec)
    assert "http-request deny deny_status 503 unless { var(txn.l7policy) -m found }" in lines
    assert not any(line.startswith("default_backend") for line in lines)
    # Without routing policies the deny stays unconditional.
    lines = frontend(lb(policy(), default=PoolSpec(id="px", protocol="HTTP",
                                                   lb_algorithm="ROUND_ROBIN", enabled=False)))
    assert "http-request deny deny_status 503" in lines


def test_nasty_values_stay_one_word() -> None:
    spec = lb(policy(rules=(rule(type="HEADER", key="X-T", compare_type="EQUAL_TO",
                                 value=NASTY),)),
              policy("p2", "REDIRECT_TO_URL", 2, redirect_url="http://a.example/'x'?$y#z"))
    cfg = render_haproxy(spec, AMP)
    plain = render_haproxy(lb(), AMP)
    assert len(cfg.splitlines()) == len(plain.splitlines()) + 6  # 2 acl, 2 picks, 2 actions
    assert "acl r1 req.hdr(X-T) -m str -- 'a '\\''b'\\'' \"c\" \\d $HOME #x -m reg'" in cfg
    assert "location 'http://a.example/'\\''x'\\''?$y#z'" in cfg


# --- the real haproxy ----------------------------------------------------------------

def _every_combination() -> LoadBalancerSpec:
    types = [("HOST_NAME", None), ("PATH", None), ("FILE_TYPE", None), ("HEADER", "X-H"),
             ("COOKIE", "c"), ("SSL_DN_FIELD", "CN")]
    rules = []
    for (kind, key), compare in itertools.product(types, render_l7._MATCH):
        if kind == "FILE_TYPE" and compare not in ("REGEX", "EQUAL_TO"):
            continue
        value = r"^\.x(y|z)$" if compare == "REGEX" else NASTY
        rules.append(rule(f"r-{kind}-{compare}", kind, compare, value, key=key))
    rules.append(rule("r-cert", "SSL_CONN_HAS_CERT", "EQUAL_TO", "true", invert=True))
    rules.append(rule("r-verify", "SSL_VERIFY_RESULT", "EQUAL_TO", "0"))
    policies = []
    for i, r in enumerate(rules):
        action = ("REJECT", "REDIRECT_TO_URL", "REDIRECT_TO_POOL", "REDIRECT_PREFIX")[i % 4]
        code = (None, 301, 302, 303, 307, 308)[i % 6]
        policies.append(policy(f"p{i}", action, i + 1, rules=(dataclasses.replace(
            r, invert=bool(i % 2)),), redirect_url="http://a.example/%41'$b#",
            redirect_prefix="https://b.example:8443", redirect_http_code=code,
            redirect_pool=pool(f"pool{i % 3}")))
    policies.append(policy("all", "REJECT", 999, rules=tuple(
        dataclasses.replace(r, id=r.id + "-all") for r in rules)))
    return lb(*policies)


@needs_haproxy
@pytest.mark.parametrize("name", ["every_combination", "no_default_pool", "empty"])
def test_haproxy_accepts(name: str) -> None:
    spec = {"every_combination": _every_combination(),
            "no_default_pool": lb(policy("p1", "REDIRECT_TO_POOL", 1, redirect_pool=pool("pb")),
                                  default=PoolSpec(id="px", protocol="HTTP",
                                                   lb_algorithm="ROUND_ROBIN", enabled=False)),
            "empty": lb(policy(rules=()))}[name]
    with tempfile.TemporaryDirectory(prefix="hx-") as base_dir:
        cfg = render_haproxy(spec, dataclasses.replace(AMP, base_dir=base_dir))
        result = _haproxy_check(cfg)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{cfg}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live() -> Iterator[Any]:
    """Run a rendered config in a real haproxy on loopback; yields start(spec) -> port."""
    procs: list[subprocess.Popen[bytes]] = []
    tmp = tempfile.TemporaryDirectory(prefix="hx-")

    def start(spec_for_port: Any) -> int:
        port = _free_port()
        cfg = render_haproxy(spec_for_port(port), dataclasses.replace(AMP, base_dir=tmp.name))
        path = os.path.join(tmp.name, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(cfg)
        assert HAPROXY is not None
        procs.append(subprocess.Popen([HAPROXY, "-db", "-f", path], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return port
            except OSError:
                time.sleep(0.02)
        raise AssertionError("haproxy did not start")

    try:
        yield start
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(5)
        tmp.cleanup()


def _get(port: int, path: str = "/", headers: dict[str, str] | None = None
         ) -> tuple[int, str | None]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Location")
    finally:
        conn.close()


@needs_haproxy
def test_live_haproxy_matches_values_literally(live: Any) -> None:
    # Dead members: a policy that routes answers 503; no policy matched falls to the
    # (disabled) default pool, which also answers 503, so routing is shown by redirects.
    url = "http://a.example/p%20q?x='y'&$HOME#frag"

    def spec(port: int) -> LoadBalancerSpec:
        return lb(
            policy("p1", "REJECT", 1, rules=(rule("r1", "HEADER", "EQUAL_TO", NASTY, key="X-T"),)),
            policy("p2", "REDIRECT_TO_URL", 2, redirect_url=url, redirect_http_code=307,
                   rules=(rule("r2", "PATH", "STARTS_WITH", "/go"),
                          rule("r3", "COOKIE", "EQUAL_TO", "1", key="stay", invert=True))),
            policy("p3", "REDIRECT_PREFIX", 3, redirect_prefix="https://b.example",
                   rules=(rule("r4", "HOST_NAME", "REGEX", r"^old\.example$"),)),
            port=port, vip="127.0.0.1",
            default=PoolSpec(id="px", protocol="HTTP", lb_algorithm="ROUND_ROBIN", enabled=False))

    port = live(spec)
    assert _get(port, "/", {"X-T": NASTY}) == (403, None)
    assert _get(port, "/", {"X-T": NASTY[:-1]}) == (503, None)
    assert _get(port, "/", {"X-T": "$HOME"}) == (503, None)
    assert _get(port, "/go/x", {"X-T": NASTY}) == (403, None)  # position 1 wins
    assert _get(port, "/go/x") == (307, url)
    assert _get(port, "/go/x", {"Cookie": "stay=1"}) == (503, None)  # inverted rule
    assert _get(port, "/a?b", {"Host": "OLD.example"}) == (302, "https://b.example/a?b")
