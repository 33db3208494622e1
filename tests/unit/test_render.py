"""Tests for portus.amphora.render (haproxy.cfg rendering).

Structural assertions parse the rendered file into sections and lines; the
``haproxy -c`` tests run the real binary (skipped when it is not installed).
"""
from __future__ import annotations

import dataclasses
import itertools
from typing import Any
import os
import shutil
import subprocess
import tempfile

import pytest

from portus.amphora import render
from portus.amphora.render import (
    RenderError,
    expand_expected_codes,
    expected_codes_regex,
    haproxy_algorithm,
    render_haproxy,
)
from portus.amphora.spec import (
    AmphoraRuntime,
    HealthMonitorSpec,
    ListenerSpec,
    LoadBalancerSpec,
    MemberSpec,
    PoolSpec,
)

AMP = AmphoraRuntime(amphora_id="amp-1", base_dir="/var/lib/portus/amp-1", maxconn=8000)


# --------------------------------------------------------------------------
# builders and a tiny parser


def member(mid="m1", address="192.0.2.10", port=80, **kw) -> MemberSpec:
    return MemberSpec(id=mid, address=address, port=port, **kw)


def http_hm(**kw) -> HealthMonitorSpec:
    base: dict[str, Any] = dict(id="hm1", type="HTTP", delay=5, timeout=3, rise=2, fall=3)
    base.update(kw)
    return HealthMonitorSpec(**base)


def tcp_hm(**kw) -> HealthMonitorSpec:
    base: dict[str, Any] = dict(id="hm1", type="TCP", delay=5, timeout=3, rise=2, fall=3)
    base.update(kw)
    return HealthMonitorSpec(**base)


def pool(pid="p1", protocol="HTTP", algorithm="ROUND_ROBIN", members=None, **kw) -> PoolSpec:
    if members is None:
        members = (member("m1", "192.0.2.10"), member("m2", "192.0.2.11"))
    return PoolSpec(id=pid, protocol=protocol, lb_algorithm=algorithm, members=tuple(members), **kw)


def listener(lid="l1", protocol="HTTP", port=80, default_pool="default", **kw) -> ListenerSpec:
    if default_pool == "default":
        default_pool = pool(protocol="HTTP" if protocol == "HTTP" else "TCP")
    return ListenerSpec(id=lid, protocol=protocol, port=port, default_pool=default_pool, **kw)


def lb(*listeners, vip="203.0.113.5", **kw) -> LoadBalancerSpec:
    base = dict(id="lb-1", project_id="proj", vip_address=vip, generation=3, listeners=tuple(listeners))
    base.update(kw)
    return LoadBalancerSpec(**base)


def sections(cfg: str) -> dict[str, list[str]]:
    """{"global": [...], "frontend l1": [...], "backend p1:l1": [...]} of stripped lines."""
    out: dict[str, list[str]] = {}
    current = None
    for raw in cfg.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if raw[0].isspace():
            assert current is not None, raw
            out[current].append(line)
        else:
            current = line
            assert current not in out, f"duplicate section {current}"
            out[current] = []
    return out


def servers(section: list[str]) -> dict[str, list[str]]:
    """server name -> its tokens after the name."""
    result = {}
    for line in section:
        tokens = line.split()
        if tokens[0] == "server":
            result[tokens[1]] = tokens[2:]
    return result


def option_value(tokens: list[str], key: str) -> str:
    return tokens[tokens.index(key) + 1]


def fe(cfg_sections, lid="l1"):
    return cfg_sections[f"frontend {lid}"]


def be(cfg_sections, pid="p1", lid="l1"):
    return cfg_sections[f"backend {pid}:{lid}"]


def one(spec: LoadBalancerSpec, amp: AmphoraRuntime = AMP) -> dict[str, list[str]]:
    return sections(render_haproxy(spec, amp))


# --------------------------------------------------------------------------
# global, defaults


def test_header_global_and_defaults():
    cfg = render_haproxy(lb(listener(), generation=42), AMP)
    assert cfg.splitlines()[0] == "# portus generation 42 load balancer lb-1"
    assert cfg.endswith("\n")
    s = sections(cfg)
    g = s["global"]
    assert "maxconn 8000" in g
    assert "nbthread 1" in g
    assert "stats socket /var/lib/portus/amp-1/haproxy.sock mode 600 level admin expose-fd listeners" in g
    assert "hard-stop-after 30s" in g
    assert not any(line.split()[0] in ("user", "group", "chroot", "daemon", "log") for line in g)
    d = s["defaults"]
    assert "retries 3" in d and "option redispatch" in d
    for kind in ("connect", "client", "server"):
        assert any(line.startswith(f"timeout {kind} ") for line in d)


def test_global_maxconn_follows_amphora_and_is_bounded():
    s = one(lb(listener()), dataclasses.replace(AMP, maxconn=9000))
    assert "maxconn 9000" in s["global"]
    with pytest.raises(RenderError):
        render_haproxy(lb(listener()), dataclasses.replace(AMP, maxconn=9001))
    with pytest.raises(RenderError):
        render_haproxy(lb(listener()), dataclasses.replace(AMP, maxconn=0))


def test_base_dir_trailing_slash_and_unsafe_or_too_long():
    s = one(lb(listener()), dataclasses.replace(AMP, base_dir="/run/amp/"))
    assert any(line.startswith("stats socket /run/amp/haproxy.sock ") for line in s["global"])
    for bad in ("relative/dir", "/a b", "/a\nb", "/a#b", "/" + "a" * 90):
        with pytest.raises(RenderError):
            render_haproxy(lb(listener()), dataclasses.replace(AMP, base_dir=bad))


def test_no_listeners_still_renders_global():
    s = one(lb())
    assert set(s) == {"global", "defaults"}


# --------------------------------------------------------------------------
# frontends


def test_http_listener_frontend():
    s = one(lb(listener(timeout_client_data=12345)))
    f = fe(s)
    assert f[0] == "mode http"
    assert "bind 203.0.113.5:80" in f
    assert "timeout client 12345" in f
    assert "default_backend p1:l1" in f
    assert "maxconn 8000" in f  # -1 -> 50000, capped at the amphora's maxconn
    assert not any(line.startswith("tcp-request") for line in f)
    assert "option forwardfor" not in f


def test_tcp_listener_frontend_and_inspect_delay():
    s = one(lb(listener(protocol="TCP", port=443, timeout_tcp_inspect=4000)))
    f = fe(s)
    assert f[0] == "mode tcp"
    assert "bind 203.0.113.5:443" in f
    assert "tcp-request inspect-delay 4000" in f
    assert be(s)[0] == "mode tcp"


@pytest.mark.parametrize(
    "limit, amp_maxconn, expected",
    [(-1, 8000, 8000), (0, 8000, 8000), (100, 8000, 100), (8000, 8000, 8000), (20000, 8000, 8000),
     (-1, 100, 100), (50, 100, 50)],
)
def test_connection_limit(limit, amp_maxconn, expected):
    s = one(lb(listener(connection_limit=limit)), dataclasses.replace(AMP, maxconn=amp_maxconn))
    assert f"maxconn {expected}" in fe(s)


def test_frontend_maxconn_helper():
    assert render.frontend_maxconn(-1, 1_000_000) == 50000
    assert render.frontend_maxconn(123, 1_000_000) == 123
    with pytest.raises(RenderError):
        render.frontend_maxconn(-2, 8000)


def test_disabled_listener_not_rendered():
    s = one(lb(listener("l1", port=80), listener("l2", port=81, enabled=False)))
    assert "frontend l1" in s
    assert "frontend l2" not in s
    assert not any(name.endswith(":l2") for name in s)


def test_disabled_load_balancer_renders_no_listeners():
    s = one(lb(listener("l1", port=80), enabled=False))
    assert set(s) == {"global", "defaults"}


def test_http_listener_without_pool_answers_503():
    s = one(lb(listener(default_pool=None)))
    f = fe(s)
    assert "http-request deny deny_status 503" in f
    assert not any(line.startswith("default_backend") for line in f)
    assert not any(k.startswith("backend") for k in s)


def test_tcp_listener_without_pool_rejects():
    s = one(lb(listener(protocol="TCP", default_pool=None)))
    assert "tcp-request connection reject" in fe(s)
    assert not any(k.startswith("backend") for k in s)


def test_disabled_pool_is_like_no_pool():
    s = one(lb(listener(default_pool=pool(enabled=False))))
    assert "http-request deny deny_status 503" in fe(s)
    assert not any(k.startswith("backend") for k in s)


def test_ipv6_vip_and_members():
    p = pool(members=(member("m1", "2001:DB8:0:0::10", 8080), member("m2", "192.0.2.1", 80)))
    s = one(lb(listener(default_pool=p), vip="2001:db8::5"))
    assert "bind [2001:db8::5]:80" in fe(s)
    srv = servers(be(s))
    assert srv["m1"][0] == "[2001:db8::10]:8080"
    assert srv["m2"][0] == "192.0.2.1:80"


def test_insert_headers_http():
    headers = {"X-Forwarded-For": "true", "X-Forwarded-Port": "True", "X-Forwarded-Proto": "true",
               "X-Real-IP": "true"}
    f = fe(one(lb(listener(insert_headers=headers))))
    assert "option forwardfor" in f
    assert "http-request set-header X-Forwarded-Port %[dst_port]" in f
    assert "http-request set-header X-Forwarded-Proto http" in f
    assert not any("X-Real-IP" in line for line in f)


def test_insert_headers_false_and_tcp_ignored():
    f = fe(one(lb(listener(insert_headers={"X-Forwarded-For": "false", "X-Forwarded-Port": "False"}))))
    assert "option forwardfor" not in f
    assert not any("set-header" in line for line in f)
    f = fe(one(lb(listener(protocol="TCP", insert_headers={"X-Forwarded-For": "true"}))))
    assert "option forwardfor" not in f


def test_zero_timeouts_fall_back_to_defaults_and_huge_are_clamped():
    s = one(lb(listener(timeout_client_data=0, timeout_member_connect=0, timeout_member_data=0)))
    assert not any(line.startswith("timeout client") for line in fe(s))
    assert not any(line.startswith(("timeout connect", "timeout server")) for line in be(s))
    s = one(lb(listener(timeout_client_data=2_073_600_000, timeout_member_data=3_000_000_000)))
    assert "timeout client 2073600000" in fe(s)
    assert "timeout server 2147483647" in be(s)
    with pytest.raises(RenderError):
        render_haproxy(lb(listener(timeout_client_data=-5)), AMP)


def test_duplicate_ports_and_ids_refused():
    with pytest.raises(RenderError):
        render_haproxy(lb(listener("l1", port=80), listener("l2", port=80)), AMP)
    with pytest.raises(RenderError):
        render_haproxy(lb(listener("l1", port=80), listener("l1", port=81)), AMP)
    p = pool(members=(member("m1"), member("m1", "192.0.2.99")))
    with pytest.raises(RenderError):
        render_haproxy(lb(listener(default_pool=p)), AMP)
    # a disabled listener may share a port with an enabled one
    one(lb(listener("l1", port=80), listener("l2", port=80, enabled=False)))


# --------------------------------------------------------------------------
# backends


def test_http_backend_basics():
    s = one(lb(listener(timeout_member_connect=4000, timeout_member_data=60000)))
    b = be(s)
    assert b[0] == "mode http"
    assert "http-reuse safe" in b
    assert "balance roundrobin" in b
    assert "timeout connect 4000" in b
    assert "timeout server 60000" in b
    assert "option allbackups" in b
    srv = servers(b)
    assert srv["m1"] == ["192.0.2.10:80", "weight", "1"]
    assert not any(line.startswith(("timeout check", "option httpchk")) for line in b)


def test_shared_pool_gets_one_backend_per_listener():
    p = pool("shared")
    s = one(lb(listener("l1", port=80, default_pool=p), listener("l2", port=81, default_pool=p)))
    assert "default_backend shared:l1" in fe(s, "l1")
    assert "default_backend shared:l2" in fe(s, "l2")
    assert "backend shared:l1" in s and "backend shared:l2" in s


@pytest.mark.parametrize(
    "algorithm, balance",
    [("ROUND_ROBIN", "roundrobin"), ("LEAST_CONNECTIONS", "leastconn"), ("SOURCE_IP", "source")],
)
def test_algorithms(algorithm, balance):
    assert haproxy_algorithm(algorithm) == balance
    assert f"balance {balance}" in be(one(lb(listener(default_pool=pool(algorithm=algorithm)))))


def test_unknown_algorithm_refused():
    with pytest.raises(RenderError):
        haproxy_algorithm("SOURCE_IP_PORT")
    with pytest.raises(RenderError):
        render_haproxy(lb(listener(default_pool=pool(algorithm="RANDOM"))), AMP)


def test_tcp_pool_behind_tcp_listener():
    b = be(one(lb(listener(protocol="TCP", default_pool=pool(protocol="TCP")))))
    assert b[0] == "mode tcp"
    assert "http-reuse safe" not in b


def test_http_pool_behind_tcp_listener():
    s = one(lb(listener(protocol="TCP", default_pool=pool(protocol="HTTP"))))
    assert fe(s)[0] == "mode tcp"
    assert be(s)[0] == "mode http"
    assert "http-reuse safe" in be(s)


def test_tcp_pool_behind_http_listener_refused():
    with pytest.raises(RenderError):
        render_haproxy(lb(listener(protocol="HTTP", default_pool=pool(protocol="TCP"))), AMP)


@pytest.mark.parametrize("listener_protocol, mode", [("HTTP", "http"), ("TCP", "tcp")])
@pytest.mark.parametrize("pool_protocol, keyword", [("PROXY", "send-proxy"), ("PROXYV2", "send-proxy-v2")])
def test_proxy_protocol_pools(listener_protocol, mode, pool_protocol, keyword):
    s = one(lb(listener(protocol=listener_protocol, default_pool=pool(protocol=pool_protocol))))
    b = be(s)
    assert b[0] == f"mode {mode}"
    assert ("http-reuse safe" in b) == (mode == "http")
    for tokens in servers(b).values():
        assert keyword in tokens
        assert ({"send-proxy", "send-proxy-v2"} - {keyword}).isdisjoint(tokens)


@pytest.mark.parametrize("pool_protocol", ["HTTPS", "TCP"])
def test_https_passthrough_listener_is_tcp(pool_protocol):
    s = one(lb(listener(protocol="HTTPS", port=443, default_pool=pool(protocol=pool_protocol))))
    f, b = fe(s), be(s)
    assert f[0] == "mode tcp"
    assert b[0] == "mode tcp"
    assert "http-reuse safe" not in b
    assert not any("ssl" in line for line in f + b)  # passthrough: no certificates, no TLS


def test_https_pool_behind_tcp_listener_is_tcp():
    b = be(one(lb(listener(protocol="TCP", default_pool=pool(protocol="HTTPS")))))
    assert b[0] == "mode tcp"


@pytest.mark.parametrize("pool_protocol, keyword", [("PROXY", "send-proxy"), ("PROXYV2", "send-proxy-v2")])
def test_proxy_pools_behind_https_listener(pool_protocol, keyword):
    b = be(one(lb(listener(protocol="HTTPS", default_pool=pool(protocol=pool_protocol)))))
    assert b[0] == "mode tcp"
    assert all(keyword in tokens for tokens in servers(b).values())


@pytest.mark.parametrize("listener_protocol, pool_protocol", [
    ("HTTP", "HTTPS"), ("HTTPS", "HTTP"), ("HTTP", "TCP")])
def test_incompatible_https_pairs_refused(listener_protocol, pool_protocol):
    with pytest.raises(RenderError):
        render_haproxy(lb(listener(protocol=listener_protocol,
                                   default_pool=pool(protocol=pool_protocol))), AMP)


def test_session_persistence_source_ip():
    b = be(one(lb(listener(default_pool=pool(session_persistence={"type": "SOURCE_IP"})))))
    assert "stick-table type ipv6 size 10k" in b
    assert "stick on src" in b
    assert not any(line.startswith("cookie") for line in b)


def test_session_persistence_source_ip_on_tcp():
    b = be(one(lb(listener(protocol="TCP", default_pool=pool(
        protocol="TCP", session_persistence={"type": "SOURCE_IP"})))))
    assert "stick on src" in b


def test_session_persistence_http_cookie():
    b = be(one(lb(listener(default_pool=pool(session_persistence={"type": "HTTP_COOKIE"})))))
    assert "cookie SRV insert indirect nocache" in b
    for name, tokens in servers(b).items():
        assert option_value(tokens, "cookie") == name
    assert not any(line.startswith("stick") for line in b)


def test_session_persistence_app_cookie():
    sp = {"type": "APP_COOKIE", "cookie_name": "JSESSIONID"}
    b = be(one(lb(listener(default_pool=pool(session_persistence=sp)))))
    assert "stick-table type string len 64 size 10k" in b
    assert "stick store-response res.cook(JSESSIONID)" in b
    assert "stick match req.cook(JSESSIONID)" in b
    assert not any("cookie" in tokens for tokens in servers(b).values())


@pytest.mark.parametrize("sp", [{"type": "HTTP_COOKIE"}, {"type": "APP_COOKIE", "cookie_name": "c"}])
def test_cookie_persistence_not_rendered_in_tcp_mode(sp):
    b = be(one(lb(listener(protocol="TCP", default_pool=pool(protocol="TCP", session_persistence=sp)))))
    assert not any(line.startswith(("cookie", "stick")) for line in b)
    assert not any("cookie" in tokens for tokens in servers(b).values())


@pytest.mark.parametrize(
    "sp",
    [{"type": "BOGUS"}, {"type": "APP_COOKIE"}, {"type": "APP_COOKIE", "cookie_name": "a b"},
     {"type": "APP_COOKIE", "cookie_name": "x)\n    server evil 1.2.3.4:80"},
     {"type": "APP_COOKIE", "cookie_name": "a#b"}, {"type": "APP_COOKIE", "cookie_name": "a'b"}],
)
def test_bad_session_persistence_refused(sp):
    with pytest.raises(RenderError):
        render_haproxy(lb(listener(default_pool=pool(session_persistence=sp))), AMP)


# --------------------------------------------------------------------------
# members


def test_backup_and_disabled_members():
    p = pool(members=(member("m1"), member("m2", "192.0.2.11", backup=True),
                      member("m3", "192.0.2.12", enabled=False),
                      member("m4", "192.0.2.13", 8080, weight=0, backup=True, enabled=False)))
    srv = servers(be(one(lb(listener(default_pool=p)))))
    assert srv["m1"] == ["192.0.2.10:80", "weight", "1"]
    assert "backup" in srv["m2"] and "disabled" not in srv["m2"]
    assert "disabled" in srv["m3"] and "backup" not in srv["m3"]
    assert srv["m4"][:3] == ["192.0.2.13:8080", "weight", "0"]
    assert "backup" in srv["m4"] and "disabled" in srv["m4"]


def test_member_weight_range():
    srv = servers(be(one(lb(listener(default_pool=pool(members=(member(weight=256),)))))))
    assert option_value(srv["m1"], "weight") == "256"
    with pytest.raises(RenderError):
        render_haproxy(lb(listener(default_pool=pool(members=(member(weight=257),)))), AMP)


def test_monitor_address_and_port():
    p = pool(members=(member("m1", monitor_address="198.51.100.7", monitor_port=9000),
                      member("m2", "2001:db8::20", monitor_address="2001:db8::21"),
                      member("m3", "192.0.2.12", monitor_port=8081)),
             health_monitor=tcp_hm())
    srv = servers(be(one(lb(listener(default_pool=p)))))
    assert option_value(srv["m1"], "addr") == "198.51.100.7"
    assert option_value(srv["m1"], "port") == "9000"
    assert option_value(srv["m2"], "addr") == "[2001:db8::21]"
    assert "port" not in srv["m2"]
    assert option_value(srv["m3"], "port") == "8081"
    assert "addr" not in srv["m3"]


def test_monitor_address_ignored_without_health_monitor():
    p = pool(members=(member("m1", monitor_address="198.51.100.7", monitor_port=9000),))
    tokens = servers(be(one(lb(listener(default_pool=p)))))["m1"]
    assert "check" not in tokens and "addr" not in tokens and "port" not in tokens


# --------------------------------------------------------------------------
# health monitors


def test_http_health_monitor_defaults():
    b = be(one(lb(listener(default_pool=pool(health_monitor=http_hm())))))
    assert "timeout check 3s" in b
    assert "option httpchk GET /" in b
    assert "http-check expect rstatus ^(200)$" in b
    assert not any(line.startswith("http-check send") for line in b)
    for tokens in servers(b).values():
        i = tokens.index("check")
        assert tokens[i:i + 7] == ["check", "inter", "5s", "fall", "3", "rise", "2"]


@pytest.mark.parametrize(
    "codes, regex",
    [("200", "^(200)$"), ("200, 202", "^(200|202)$"), ("200,202,  301", "^(200|202|301)$"),
     ("200-204", "^(200|201|202|203|204)$"), ("404-404", "^(404)$")],
)
def test_http_health_monitor_expected_codes(codes, regex):
    hm = http_hm(http_method="HEAD", url_path="/healthz?full=1&x=%20", expected_codes=codes)
    b = be(one(lb(listener(default_pool=pool(health_monitor=hm)))))
    assert "option httpchk HEAD /healthz?full=1&x=%20" in b
    assert f"http-check expect rstatus {regex}" in b


def test_http_health_monitor_http11_with_domain():
    hm = http_hm(http_version=1.1, domain_name="www.example.com", url_path="/ping")
    b = be(one(lb(listener(default_pool=pool(health_monitor=hm)))))
    i = b.index("option httpchk GET /ping HTTP/1.1")
    assert b[i + 1] == "http-check send hdr Host www.example.com"
    assert b[i + 2] == "http-check expect rstatus ^(200)$"


def test_http_health_monitor_http11_without_domain_and_10_with_domain():
    b = be(one(lb(listener(default_pool=pool(health_monitor=http_hm(http_version=1.1))))))
    assert "option httpchk GET / HTTP/1.1" in b
    assert not any(line.startswith("http-check send") for line in b)
    hm = http_hm(http_version=1.0, domain_name="example.com")
    b = be(one(lb(listener(default_pool=pool(health_monitor=hm)))))
    assert "option httpchk GET /" in b
    assert not any(line.startswith("http-check send") for line in b)


def test_http_health_monitor_on_tcp_pool():
    p = pool(protocol="TCP", health_monitor=http_hm())
    b = be(one(lb(listener(protocol="TCP", default_pool=p))))
    assert "option httpchk GET /" in b


def test_tcp_health_monitor():
    b = be(one(lb(listener(protocol="TCP", default_pool=pool(protocol="TCP", health_monitor=tcp_hm(
        delay=10, timeout=4, rise=1, fall=2, url_path="/ignored", expected_codes="500"))))))
    assert "timeout check 4s" in b
    assert not any(line.startswith(("option httpchk", "http-check")) for line in b)
    for tokens in servers(b).values():
        i = tokens.index("check")
        assert tokens[i:i + 7] == ["check", "inter", "10s", "fall", "2", "rise", "1"]


def test_disabled_health_monitor():
    b = be(one(lb(listener(default_pool=pool(health_monitor=http_hm(enabled=False))))))
    assert not any(line.startswith(("timeout check", "option httpchk", "http-check")) for line in b)
    assert not any("check" in tokens for tokens in servers(b).values())


def test_health_monitor_timers_clamped():
    b = be(one(lb(listener(default_pool=pool(health_monitor=tcp_hm(delay=0, timeout=0))))))
    assert "timeout check 1s" in b
    assert all(option_value(t, "inter") == "1s" for t in servers(b).values())
    b = be(one(lb(listener(default_pool=pool(health_monitor=tcp_hm(delay=2_073_600_000, timeout=10**9))))))
    assert "timeout check 2147483s" in b
    assert all(option_value(t, "inter") == "2147483s" for t in servers(b).values())


def test_https_health_monitor_is_http_check_over_ssl():
    hm = http_hm(type="HTTPS", url_path="/healthz", http_version=1.1, domain_name="svc.example.org",
                 expected_codes="200,204")
    b = be(one(lb(listener(protocol="HTTPS", default_pool=pool(protocol="HTTPS", health_monitor=hm)))))
    assert b[0] == "mode tcp"
    assert "option httpchk GET /healthz HTTP/1.1" in b
    assert "http-check send hdr Host svc.example.org" in b
    assert "http-check expect rstatus ^(200|204)$" in b
    for tokens in servers(b).values():
        i = tokens.index("check-ssl")
        assert tokens[i:i + 3] == ["check-ssl", "verify", "none"]
        assert "check" in tokens


def test_https_health_monitor_defaults_like_http():
    b = be(one(lb(listener(default_pool=pool(health_monitor=http_hm(type="HTTPS"))))))
    assert "option httpchk GET /" in b
    assert "http-check expect rstatus ^(200)$" in b
    assert all("check-ssl" in tokens for tokens in servers(b).values())


def test_tls_hello_health_monitor_is_plain_check_over_ssl():
    b = be(one(lb(listener(protocol="HTTPS", default_pool=pool(
        protocol="HTTPS", health_monitor=tcp_hm(type="TLS-HELLO"))))))
    assert "timeout check 3s" in b
    assert not any(line.startswith(("option httpchk", "http-check", "option ssl-hello-chk"))
                   for line in b)
    for tokens in servers(b).values():
        i = tokens.index("check")
        assert tokens[i:i + 7] == ["check", "inter", "5s", "fall", "3", "rise", "2"]
        j = tokens.index("check-ssl")
        assert tokens[j:j + 3] == ["check-ssl", "verify", "none"]


@pytest.mark.parametrize("hm", [tcp_hm(), http_hm()])
def test_plain_monitors_do_not_use_ssl(hm):
    b = be(one(lb(listener(default_pool=pool(health_monitor=hm)))))
    assert not any("check-ssl" in tokens for tokens in servers(b).values())


def test_disabled_tls_hello_monitor_renders_no_check():
    b = be(one(lb(listener(default_pool=pool(health_monitor=tcp_hm(type="TLS-HELLO", enabled=False))))))
    assert not any("check-ssl" in tokens or "check" in tokens for tokens in servers(b).values())


@pytest.mark.parametrize(
    "hm",
    [tcp_hm(type="UDP-CONNECT"), tcp_hm(type="SCTP"), http_hm(http_method="BREW"), http_hm(http_version=2.0),
     http_hm(expected_codes="2xx"), http_hm(expected_codes="204-200"), http_hm(expected_codes="99"),
     http_hm(rise=0), http_hm(fall=0), http_hm(delay=-1)],
)
def test_bad_health_monitor_refused(hm):
    with pytest.raises(RenderError):
        render_haproxy(lb(listener(default_pool=pool(health_monitor=hm))), AMP)


# --------------------------------------------------------------------------
# expected_codes helpers


def test_expand_expected_codes():
    assert expand_expected_codes(None) == [200]
    assert expand_expected_codes("") == [200]
    assert expand_expected_codes("200") == [200]
    assert expand_expected_codes("200, 202") == [200, 202]
    assert expand_expected_codes("202,200,200") == [200, 202]
    assert expand_expected_codes("200-204") == [200, 201, 202, 203, 204]
    assert expand_expected_codes("200-202, 404") == [200, 201, 202, 404]
    assert expected_codes_regex("200, 202") == "^(200|202)$"
    assert expected_codes_regex("200-204") == "^(200|201|202|203|204)$"


@pytest.mark.parametrize("codes", ["abc", "200;201", "2000", "20", "200-", "-200", "200 202",
                                   "600", "099", "300-200", "200,", "200|201", "200\n201"])
def test_expand_expected_codes_invalid(codes):
    with pytest.raises(RenderError):
        expand_expected_codes(codes)


# --------------------------------------------------------------------------
# defence in depth: nothing unchecked reaches the config

EVIL = "\n    server evil 1.2.3.4:80"


@pytest.mark.parametrize(
    "make",
    [
        lambda: lb(listener(default_pool=pool(health_monitor=http_hm(url_path="/x" + EVIL)))),
        lambda: lb(listener(default_pool=pool(health_monitor=http_hm(url_path="/x y")))),
        lambda: lb(listener(default_pool=pool(health_monitor=http_hm(url_path="/x#frag")))),
        lambda: lb(listener(default_pool=pool(health_monitor=http_hm(url_path="/x'y")))),
        lambda: lb(listener(default_pool=pool(health_monitor=http_hm(url_path='/x"y')))),
        lambda: lb(listener(default_pool=pool(health_monitor=http_hm(url_path="/x\\y")))),
        lambda: lb(listener(default_pool=pool(health_monitor=http_hm(url_path="x")))),
        lambda: lb(listener(default_pool=pool(health_monitor=http_hm(url_path="/\t")))),
        lambda: lb(listener(default_pool=pool(health_monitor=http_hm(
            http_version=1.1, domain_name="example.com" + EVIL)))),
        lambda: lb(listener(default_pool=pool(health_monitor=http_hm(
            http_version=1.1, domain_name="exa mple.com")))),
        lambda: lb(listener(default_pool=pool(health_monitor=http_hm(
            http_version=1.1, domain_name="%[src].example.com")))),
        lambda: lb(listener(default_pool=pool(health_monitor=http_hm(id="hm 1")))),
        lambda: lb(listener(default_pool=pool(health_monitor=http_hm(http_method="GET /x")))),
        lambda: lb(listener("l1 " + EVIL)),
        lambda: lb(listener("l1#x")),
        lambda: lb(listener("l1:x")),
        lambda: lb(listener(default_pool=pool("p1" + EVIL))),
        lambda: lb(listener(default_pool=pool(members=(member("m1" + EVIL),)))),
        lambda: lb(listener(default_pool=pool(members=(member("m1", "1.2.3.4 backup"),)))),
        lambda: lb(listener(default_pool=pool(members=(member("m1", "1.2.3.4" + EVIL),)))),
        lambda: lb(listener(default_pool=pool(members=(member("m1", "backend.example.com"),)))),
        lambda: lb(listener(default_pool=pool(members=(member("m1", "fe80::1%eth0"),)))),
        lambda: lb(listener(default_pool=pool(members=(member("m1", " 1.2.3.4"),)))),
        lambda: lb(listener(default_pool=pool(members=(member("m1", port=0),)))),
        lambda: lb(listener(default_pool=pool(members=(member("m1", port=70000),)))),
        lambda: lb(listener(default_pool=pool(members=(member("m1", port="80 backup"),)))),
        lambda: lb(listener(default_pool=pool(health_monitor=tcp_hm(), members=(
            member("m1", monitor_address="1.2.3.4 port 1"),)))),
        lambda: lb(listener(default_pool=pool(health_monitor=tcp_hm(), members=(
            member("m1", monitor_port=65536),)))),
        lambda: lb(listener(port=0)),
        lambda: lb(listener(default_pool=pool(protocol="UDP"))),
        lambda: lb(listener(protocol="TCP", default_pool=pool(protocol="SCTP"))),
        lambda: lb(listener(protocol="TERMINATED_HTTPS")),
        lambda: lb(listener(), vip="203.0.113.5 " + EVIL),
        lambda: lb(listener(), vip="203.0.113.5:80"),
        lambda: lb(listener(), id="lb-1\n# x"),
        lambda: lb(listener(), generation="3\nfoo"),
        lambda: lb(listener(connection_limit="100\n")),
        lambda: lb(listener(connection_limit=True)),
    ],
)
def test_unsafe_values_refused(make):
    with pytest.raises(RenderError):
        render_haproxy(make(), AMP)


def test_unsafe_amphora_id_refused():
    with pytest.raises(RenderError):
        render_haproxy(lb(listener()), dataclasses.replace(AMP, amphora_id="a\nb"))


def test_template_is_compiled_once():
    assert render._template() is render._template()
    assert render._ENV.undefined is __import__("jinja2").StrictUndefined
    assert render._ENV.trim_blocks and render._ENV.lstrip_blocks and not render._ENV.autoescape


def test_every_config_line_is_clean():
    """No rendered line carries stray whitespace or template residue."""
    cfg = render_haproxy(_kitchen_sink(), AMP)
    for line in cfg.splitlines():
        assert line == line.rstrip(), repr(line)
        assert "{" not in line.replace("%[dst_port]", "") and "}" not in line, line
        assert "  " not in line.strip(), repr(line)


# --------------------------------------------------------------------------
# the real haproxy -c

HAPROXY = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
needs_haproxy = pytest.mark.skipif(HAPROXY is None, reason="haproxy not installed")


def _kitchen_sink() -> LoadBalancerSpec:
    """One load balancer using (almost) every feature at once."""
    members = (member("m1", "192.0.2.10"),
               member("m2", "2001:db8::10", 8080, weight=7, backup=True,
                      monitor_address="2001:db8::11", monitor_port=9000),
               member("m3", "192.0.2.12", enabled=False, monitor_address="198.51.100.1"))
    return lb(
        listener("l-http", "HTTP", 80, insert_headers={
            "X-Forwarded-For": "true", "X-Forwarded-Port": "true", "X-Forwarded-Proto": "true"},
            default_pool=pool("p-http", "HTTP", "LEAST_CONNECTIONS", members,
                              session_persistence={"type": "HTTP_COOKIE"},
                              health_monitor=http_hm(http_version=1.1, domain_name="svc.example.org",
                                                     url_path="/h?a=1", expected_codes="200-204"))),
        listener("l-tcp", "TCP", 443, connection_limit=500, timeout_tcp_inspect=2000,
                 default_pool=pool("p-tcp", "TCP", "SOURCE_IP", members,
                                   session_persistence={"type": "SOURCE_IP"}, health_monitor=tcp_hm())),
        listener("l-app", "HTTP", 8080, default_pool=pool(
            "p-app", "PROXYV2", "ROUND_ROBIN", members,
            session_persistence={"type": "APP_COOKIE", "cookie_name": "JSESSIONID"},
            health_monitor=http_hm(expected_codes="200, 202, 301"))),
        listener("l-empty-http", "HTTP", 81, default_pool=None),
        listener("l-empty-tcp", "TCP", 82, default_pool=None),
        listener("l-off", "TCP", 83, enabled=False),
        listener("l-ping", "TCP", 84, default_pool=pool(
            "p-ping", "TCP", "ROUND_ROBIN", members, health_monitor=tcp_hm(type="PING"))),
        listener("l-metrics", "PROMETHEUS", 9100, default_pool=None),
        vip="2001:db8::5",
    )


def _scenarios() -> dict[str, LoadBalancerSpec]:
    return {
        "kitchen_sink": _kitchen_sink(),
        "no_listeners": lb(),
        "all_disabled": lb(listener(enabled=False)),
        "lb_disabled": lb(listener(), enabled=False),
        "http_no_pool": lb(listener(default_pool=None)),
        "tcp_no_pool": lb(listener(protocol="TCP", default_pool=None)),
        "empty_pool": lb(listener(default_pool=pool(members=()))),
        "zero_timeouts": lb(listener(timeout_client_data=0, timeout_member_connect=0,
                                     timeout_member_data=0, timeout_tcp_inspect=0)),
        "max_timeouts": lb(listener(timeout_client_data=2_073_600_000, timeout_member_connect=2_073_600_000,
                                    timeout_member_data=2_073_600_000, timeout_tcp_inspect=2_073_600_000,
                                    default_pool=pool(health_monitor=http_hm(delay=2_073_600_000,
                                                                             timeout=2_073_600_000)))),
        "hm_zero_timers": lb(listener(default_pool=pool(health_monitor=tcp_hm(delay=0, timeout=0)))),
        "tcp_listener_http_pool_cookie": lb(listener(protocol="TCP", default_pool=pool(
            protocol="HTTP", session_persistence={"type": "HTTP_COOKIE"}, health_monitor=http_hm()))),
        "tcp_pool_cookie_ignored": lb(listener(protocol="TCP", default_pool=pool(
            protocol="TCP", session_persistence={"type": "HTTP_COOKIE"}))),
        "ipv6_everything": lb(listener(default_pool=pool(
            members=(member("m1", "::1", 80, monitor_address="::2", monitor_port=81),),
            health_monitor=tcp_hm())), vip="::"),
        "weird_but_valid_strings": lb(listener(default_pool=pool(
            session_persistence={"type": "APP_COOKIE", "cookie_name": "a!%&*+.^_`|~-b"},
            health_monitor=http_hm(url_path="/a/b;c=d?e=$HOME&f=(g)*+,:@!~%41", http_method="OPTIONS",
                                   http_version=1.1, domain_name="a-b.c.example.")))),
        "amp_small": lb(listener(connection_limit=50000)),
        "https_passthrough_https_hm": lb(listener(protocol="HTTPS", port=443, default_pool=pool(
            protocol="HTTPS",
            members=(member("m1", "192.0.2.10", 443, monitor_port=8443),
                     member("m2", "2001:db8::10", 443, monitor_address="2001:db8::11")),
            health_monitor=http_hm(type="HTTPS", url_path="/healthz", http_version=1.1,
                                   domain_name="svc.example.org", expected_codes="200-204")))),
        "https_passthrough_tls_hello": lb(listener(protocol="HTTPS", port=443, default_pool=pool(
            protocol="HTTPS", health_monitor=tcp_hm(type="TLS-HELLO"),
            session_persistence={"type": "SOURCE_IP"}))),
        "https_listener_tcp_pool": lb(listener(protocol="HTTPS", port=443, default_pool=pool(
            protocol="TCP", health_monitor=tcp_hm()))),
        "https_listener_no_pool": lb(listener(protocol="HTTPS", port=443, default_pool=None)),
        "ping_monitor": lb(listener(default_pool=pool(health_monitor=tcp_hm(type="PING")))),
        "ping_monitor_disabled": lb(listener(default_pool=pool(
            health_monitor=tcp_hm(type="PING", enabled=False)))),
        "prometheus_only": lb(listener(protocol="PROMETHEUS", port=9100, default_pool=None,
                                       timeout_tcp_inspect=1000, connection_limit=10)),
        "prometheus_disabled": lb(listener(protocol="PROMETHEUS", port=9100, default_pool=None,
                                           enabled=False)),
    }


def _haproxy_check(cfg: str) -> subprocess.CompletedProcess:
    """Run ``haproxy -c -dW -f <file>``: -c never binds (VIPs need not exist) and
    never creates the stats socket; -dW turns every warning into a failure."""
    assert HAPROXY is not None
    with tempfile.TemporaryDirectory(prefix="portus-hx-") as d:
        path = os.path.join(d, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(cfg)
        return subprocess.run([HAPROXY, "-c", "-dW", "-f", path],
                              capture_output=True, text=True, timeout=60)


@needs_haproxy
@pytest.mark.parametrize("name", sorted(_scenarios()))
def test_haproxy_accepts_rendered_config(name):
    # A short real base_dir keeps the socket path below haproxy's 97-character limit.
    with tempfile.TemporaryDirectory(prefix="hx-") as base_dir:
        amp = AmphoraRuntime(amphora_id="amp-1", base_dir=base_dir,
                             maxconn=100 if name == "amp_small" else 8000)
        cfg = render_haproxy(_scenarios()[name], amp)
        result = _haproxy_check(cfg)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{cfg}"
    assert "Configuration file is valid" in result.stdout + result.stderr


def _combinations() -> LoadBalancerSpec:
    """Every listener/pool protocol pair x algorithm x persistence x monitor variant."""
    persistences = [None, {"type": "SOURCE_IP"}, {"type": "HTTP_COOKIE"},
                    {"type": "APP_COOKIE", "cookie_name": "SESSION"}]
    monitors = [None, tcp_hm(), http_hm(), http_hm(enabled=False),
                http_hm(http_method="POST", url_path="/p", expected_codes="200-299",
                        http_version=1.1, domain_name="example.com"),
                http_hm(type="HTTPS", http_method="HEAD", url_path="/s", http_version=1.1,
                        domain_name="example.com"),
                tcp_hm(type="TLS-HELLO"), tcp_hm(type="PING", delay=3, timeout=2)]
    members = (member("m1", "192.0.2.10"),
               member("m2", "2001:db8::10", 8080, backup=True, monitor_port=9000),
               member("m3", "192.0.2.12", enabled=False, weight=0, monitor_address="192.0.2.13"))
    listeners = []
    port = 1000
    for lproto, pproto in [("HTTP", p) for p in ("HTTP", "PROXY", "PROXYV2")] + \
            [("TCP", p) for p in ("HTTP", "HTTPS", "TCP", "PROXY", "PROXYV2")] + \
            [("HTTPS", p) for p in ("HTTPS", "PROXY", "PROXYV2", "TCP")]:
        for algorithm, sp, hm in itertools.product(render._ALGORITHMS, persistences, monitors):
            port += 1
            p = pool(f"p{port}", pproto, algorithm, members, session_persistence=sp, health_monitor=hm)
            listeners.append(listener(f"l{port}", lproto, port, default_pool=p,
                                      connection_limit=port % 3 - 1,
                                      timeout_tcp_inspect=(port % 2) * 1000,
                                      insert_headers={"X-Forwarded-For": "true",
                                                      "X-Forwarded-Port": "true",
                                                      "X-Forwarded-Proto": "true"}))
    for limit in (-1, 0, 10):  # PROMETHEUS listeners have no pool to combine with
        port += 1
        listeners.append(listener(f"l{port}", "PROMETHEUS", port, default_pool=None,
                                  connection_limit=limit, timeout_tcp_inspect=(port % 2) * 1000))
    return lb(*listeners)


@needs_haproxy
def test_haproxy_accepts_all_feature_combinations():
    spec = _combinations()
    assert len(spec.listeners) == 12 * 3 * 4 * 8 + 3
    with tempfile.TemporaryDirectory(prefix="hx-") as base_dir:
        cfg = render_haproxy(spec, dataclasses.replace(AMP, base_dir=base_dir))
    s = sections(cfg)
    # Every listener, and the internal exporter the PROMETHEUS listeners read.
    assert sum(k.startswith("frontend ") for k in s) == len(spec.listeners) + 1
    result = _haproxy_check(cfg)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"


@needs_haproxy
def test_haproxy_check_rejects_broken_config():
    """Guard against a vacuous check: haproxy -c must fail on a bad line."""
    cfg = render_haproxy(lb(listener()), AMP).replace("balance roundrobin", "balance nonsense")
    result = _haproxy_check(cfg)
    assert result.returncode != 0
    assert "balance only supports" in result.stdout + result.stderr


def test_udp_and_sctp_listeners_are_left_to_nftables():
    text = render_haproxy(lb(listener(port=80), listener("l-udp", protocol="UDP", port=80,
                                                         default_pool=pool(protocol="UDP")),
                             listener("l-sctp", protocol="SCTP", port=90)), AMP)
    assert "l-udp" not in text and "l-sctp" not in text and ":90" not in text


# --------------------------------------------------------------------------
# ACTIVE_STANDBY: stick tables shared through a peers section

PAIR = (("amp-1", "203.0.113.250"), ("amp-2", "203.0.113.249"))


def _sticky(persistence: dict[str, Any] | None) -> LoadBalancerSpec:
    return lb(listener(default_pool=pool(session_persistence=persistence)))


def test_peers_section_only_for_a_pair_with_stick_tables() -> None:
    pair = dataclasses.replace(AMP, peers=PAIR)
    for persistence in ({"type": "SOURCE_IP"}, {"type": "APP_COOKIE", "cookie_name": "sid"}):
        cfg = render_haproxy(_sticky(persistence), pair)
        sec = sections(cfg)
        assert "localpeer amp1" in sec["global"]
        assert sec["peers portus_peers"] == ["peer amp1 203.0.113.250:1025",
                                             "peer amp2 203.0.113.249:1025"]
        (table,) = [line for line in sec["backend p1:l1"] if line.startswith("stick-table")]
        assert table.endswith(" peers portus_peers")
    for persistence in (None, {"type": "HTTP_COOKIE"}):  # no stick table: no peers
        assert "peers" not in render_haproxy(_sticky(persistence), pair)
    assert "peers" not in render_haproxy(_sticky({"type": "SOURCE_IP"}), AMP)  # SINGLE


def test_peers_must_include_this_amphora_once() -> None:
    for peers in ((("amp-2", "203.0.113.249"),), PAIR + PAIR[:1]):
        with pytest.raises(RenderError, match="peers"):
            render_haproxy(_sticky({"type": "SOURCE_IP"}), dataclasses.replace(AMP, peers=peers))
    with pytest.raises(RenderError, match="peer address"):
        render_haproxy(_sticky({"type": "SOURCE_IP"}),
                       dataclasses.replace(AMP, peers=(("amp-1", "not-an-ip"),)))


@needs_haproxy
def test_haproxy_accepts_peers() -> None:
    with tempfile.TemporaryDirectory(prefix="hx-") as base_dir:
        amp = AmphoraRuntime(amphora_id="amp-1", base_dir=base_dir,
                             peers=(("amp-1", "2001:db8::fa"), ("amp-2", "2001:db8::f9")))
        cfg = render_haproxy(lb(listener(default_pool=pool(session_persistence={
            "type": "SOURCE_IP"})), listener("l2", port=81, default_pool=pool(
                "p2", session_persistence={"type": "APP_COOKIE", "cookie_name": "sid"}))), amp)
        result = _haproxy_check(cfg)
    assert "peer amp1 [2001:db8::fa]:1025" in cfg
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{cfg}"
