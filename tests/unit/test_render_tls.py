"""TLS termination, re-encryption and allowed_cidrs in the rendered haproxy config,
checked by the real haproxy with real certificate files."""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import tempfile
from pathlib import Path

import pytest

from portus.amphora import render_tls
from portus.amphora.render import RenderError, render_haproxy
from portus.amphora.spec import ListenerTLSSpec, PoolTLSSpec, TLSOptions
from tests.tls_material import material
from tests.unit.test_render import (AMP, _haproxy_check, http_hm, lb, listener, member,
                                    needs_haproxy, pool, sections)


def _name(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:40] + ".pem"


M = material()
SERVER = M.server.cert_pem + M.ca.cert_pem + M.server.key_pem
OTHER = M.other.cert_pem + M.other.key_pem
CLIENT = M.client.cert_pem + M.client.key_pem
CA = M.ca.cert_pem
CRL = M.crl.encode()
FILES = {_name(c): c for c in (SERVER, OTHER, CLIENT, CA, CRL)}


def listener_tls(**kw) -> ListenerTLSSpec:
    base = dict(certificates=(_name(SERVER), _name(OTHER)),
                options=TLSOptions(ciphers="TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES128-GCM-SHA256",
                                   versions=("TLSv1.2", "TLSv1.3"),
                                   alpn=("h2", "http/1.1", "http/1.0")))
    return ListenerTLSSpec(**{**base, **kw})


def pool_tls(**kw) -> PoolTLSSpec:
    return PoolTLSSpec(**{"options": TLSOptions(versions=("TLSv1.2", "TLSv1.3"),
                                                alpn=("http/1.1",)), **kw})


def terminated(port: int = 443, **kw) -> object:
    kw.setdefault("tls", listener_tls())
    kw.setdefault("default_pool", pool(protocol="HTTP"))
    return listener(f"l{port}", "TERMINATED_HTTPS", port, **kw)


def render_with_files(spec, certs_dir: str) -> str:
    for name, content in FILES.items():
        Path(certs_dir, name).write_bytes(content)
    return render_haproxy(spec, dataclasses.replace(AMP, certs_dir=certs_dir))


def test_termination_bind_line_and_headers():
    spec = lb(terminated(
        tls=listener_tls(client_auth="MANDATORY", client_ca=_name(CA), client_crl=_name(CRL),
                         hsts_max_age=31536000, hsts_include_subdomains=True, hsts_preload=True),
        insert_headers={"X-Forwarded-Proto": "true", "X-SSL-Client-CN": "true",
                        "X-SSL-Client-Verify": "true"},
        allowed_cidrs=("192.0.2.0/24", "2001:db8::/32"),
        default_pool=pool(tls=pool_tls(ca=_name(CA), client_cert=_name(CLIENT)))))
    cfg = render_haproxy(spec, dataclasses.replace(AMP, certs_dir="/dev/shm/portus/a"))
    frontend = "\n".join(sections(cfg)["frontend l443"])
    d = "/dev/shm/portus/a"
    assert (f"bind 203.0.113.5:443 ssl crt {d}/{_name(SERVER)} crt {d}/{_name(OTHER)} "
            f"ca-file {d}/{_name(CA)} verify required crl-file {d}/{_name(CRL)} "
            "ciphers ECDHE-RSA-AES128-GCM-SHA256 ciphersuites TLS_AES_128_GCM_SHA256 "
            "ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3 alpn h2,http/1.1,http/1.0") in frontend
    assert "mode http" in frontend
    assert "tcp-request connection reject unless { src 192.0.2.0/24 2001:db8::/32 }" in frontend
    assert "http-request set-header X-Forwarded-Proto https" in frontend
    assert "http-request set-header X-SSL-Client-CN %{+Q}[ssl_c_s_dn(cn)]" in frontend
    assert "http-request set-header X-SSL-Client-Verify %[ssl_c_verify]" in frontend
    assert ('http-response set-header Strict-Transport-Security '
            '"max-age=31536000; includeSubDomains; preload"') in frontend
    backend = "\n".join(next(v for k, v in sections(cfg).items() if k.startswith("backend")))
    assert (f"ssl ca-file {d}/{_name(CA)} verify required crt {d}/{_name(CLIENT)} "
            "sni ssl_fc_sni ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3 alpn http/1.1") in backend


def test_version_gaps_use_no_flags_and_tcp_backends_get_no_alpn():
    assert render_tls._versions(("TLSv1", "TLSv1.2")) == ["no-sslv3", "no-tlsv11", "no-tlsv13"]
    assert render_tls._versions(("TLSv1.3",)) == ["ssl-min-ver TLSv1.3", "ssl-max-ver TLSv1.3"]
    opts = render_tls.server_options(pool_tls(), "/d", http_mode=False, terminated=False)
    assert opts == "ssl verify none ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3"


@pytest.mark.parametrize("bad", [
    dict(certificates=()),
    dict(certificates=("../../etc/shadow",)),
    dict(client_auth="MANDATORY", client_ca="x.pem"),
    dict(client_auth="SOMETIMES", client_ca=_name(CA)),
    dict(options=TLSOptions(ciphers="A B")),
    dict(options=TLSOptions(versions=("TLSv9",))),
    dict(options=TLSOptions(alpn=("spdy/3",))),
])
def test_unsafe_tls_values_are_refused(bad):
    render_haproxy(lb(terminated()), dataclasses.replace(AMP, certs_dir="/dev/shm/p"))  # the base is fine
    with pytest.raises(RenderError):
        render_haproxy(lb(terminated(tls=listener_tls(**bad))),
                       dataclasses.replace(AMP, certs_dir="/dev/shm/p"))


def test_refuses_unsafe_certs_dir_and_cidrs():
    with pytest.raises(RenderError):
        render_haproxy(lb(terminated()), dataclasses.replace(AMP, certs_dir="rel ative"))
    with pytest.raises(RenderError):
        render_haproxy(lb(listener(allowed_cidrs=("10.0.0.0/8 }",))), AMP)


@needs_haproxy
def test_haproxy_accepts_every_tls_combination():
    """Client auth × CRL × HSTS × versions × pool verification, with real files."""
    listeners = []
    port = 2000
    versions = [("TLSv1.2", "TLSv1.3"), ("TLSv1.3",), ("TLSv1", "TLSv1.2")]
    for auth, crl, hsts, ver, pool_ca, client_cert, proto in itertools.product(
            ("NONE", "OPTIONAL", "MANDATORY"), (False, True), (None, 0, 3600), versions,
            (False, True), (False, True), ("HTTP", "PROXY")):
        port += 1
        tls = listener_tls(client_auth=auth, client_ca=_name(CA) if auth != "NONE" else None,
                           client_crl=_name(CRL) if crl and auth != "NONE" else None,
                           hsts_max_age=hsts, hsts_include_subdomains=hsts is not None,
                           options=TLSOptions(versions=ver, alpn=("h2", "http/1.1")))
        ptls = pool_tls(ca=_name(CA) if pool_ca else None,
                        crl=_name(CRL) if pool_ca and crl else None,
                        client_cert=_name(CLIENT) if client_cert else None)
        listeners.append(terminated(
            port, tls=tls, allowed_cidrs=("192.0.2.0/24",) if port % 2 else (),
            insert_headers={h: "true" for h in render_tls._SSL_HEADERS},
            default_pool=pool(f"p{port}", proto, members=(member(),), tls=ptls,
                              health_monitor=http_hm())))
    listeners.append(listener("plain", "TCP", 80, allowed_cidrs=("2001:db8::/32",),
                              default_pool=pool("tcp", "TCP", tls=pool_tls())))
    with tempfile.TemporaryDirectory(prefix="hx-") as base_dir:
        cfg = render_with_files(lb(*listeners), base_dir)
        result = _haproxy_check(cfg)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"


@needs_haproxy
def test_prometheus_listener_with_a_certificate_serves_tls():
    spec = lb(listener("prom", "PROMETHEUS", 9443, default_pool=None, tls=listener_tls()),
              listener("plain", "PROMETHEUS", 9100, default_pool=None))
    with tempfile.TemporaryDirectory(prefix="hx-") as base_dir:
        cfg = render_with_files(spec, base_dir)
        result = _haproxy_check(cfg)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert f"bind 203.0.113.5:9443 ssl crt {base_dir}/{_name(SERVER)}" in cfg
    assert "bind 203.0.113.5:9100\n" in cfg
