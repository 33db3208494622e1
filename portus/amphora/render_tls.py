"""The TLS and source-filter parts of a frontend and of a backend's servers.

Termination (TERMINATED_HTTPS): certificates chosen by SNI, client certificate
verification against a CA and CRL, protocol versions, ciphers, ALPN, HSTS and the
X-SSL-* request headers. Re-encryption (pools with tls_enabled): the member's
certificate verified against a CA (or not at all), an optional client certificate,
the same protocol options. Every file is named by its content hash inside the
amphora's certs_dir, and every value is checked before it reaches the config.
"""
from __future__ import annotations

import ipaddress
import re

from portus.amphora import render as r
from portus.amphora.spec import ListenerTLSSpec, PoolTLSSpec, TLSOptions

_CIPHERS_RE = re.compile(r"[A-Za-z0-9\-+!:@=_.]{1,2048}")
_TLS_FILE_RE = re.compile(r"[0-9a-f]{40}\.pem")
_CIDR_CHARS = re.compile(r"[0-9A-Fa-f.:/]+")
# API name -> haproxy's ssl-min-ver/ssl-max-ver name, and its no-* flag.
_TLS_VERSION_NAMES = {"SSLv3": ("SSLv3", "no-sslv3"), "TLSv1": ("TLSv1.0", "no-tlsv10"),
                      "TLSv1.1": ("TLSv1.1", "no-tlsv11"), "TLSv1.2": ("TLSv1.2", "no-tlsv12"),
                      "TLSv1.3": ("TLSv1.3", "no-tlsv13")}
_VERIFY = {"OPTIONAL": "optional", "MANDATORY": "required"}
# TERMINATED_HTTPS insert header -> the sample that fills it.
_SSL_HEADERS = {
    "X-SSL-Client-Verify": "%[ssl_c_verify]",
    "X-SSL-Client-Has-Cert": "%[ssl_c_used]",
    "X-SSL-Client-DN": "%{+Q}[ssl_c_s_dn]",
    "X-SSL-Client-CN": "%{+Q}[ssl_c_s_dn(cn)]",
    "X-SSL-Issuer": "%{+Q}[ssl_c_i_dn]",
    "X-SSL-Client-SHA1": "%{+Q}[ssl_c_sha1,hex]",
    "X-SSL-Client-Not-Before": "%{+Q}[ssl_c_notbefore]",
    "X-SSL-Client-Not-After": "%{+Q}[ssl_c_notafter]",
}


def _file(certs_dir: str, name: str | None, what: str) -> str:
    if not isinstance(name, str) or not _TLS_FILE_RE.fullmatch(name):
        raise r.RenderError(f"unsafe {what} file name {name!r}")
    return f"{certs_dir}/{name}"


def check_certs_dir(certs_dir: object) -> str:
    if not isinstance(certs_dir, str) or not r._PATH_RE.fullmatch(certs_dir) or certs_dir == "/":
        raise r.RenderError(f"unsafe certs_dir {certs_dir!r}")
    return certs_dir.rstrip("/")


def _protocol_options(options: TLSOptions, alpn: bool) -> list[str]:
    out: list[str] = []
    if options.ciphers is not None:
        if not _CIPHERS_RE.fullmatch(options.ciphers):
            raise r.RenderError(f"unsafe tls_ciphers {options.ciphers!r}")
        # OpenSSL takes TLS 1.3 suites separately from the cipher list of older versions.
        suites = [c for c in options.ciphers.split(":") if c.startswith("TLS_")]
        legacy = [c for c in options.ciphers.split(":") if c and not c.startswith("TLS_")]
        if legacy:
            out.append("ciphers " + ":".join(legacy))
        if suites:
            out.append("ciphersuites " + ":".join(suites))
    out += _versions(options.versions)
    if alpn and options.alpn:
        bad = [p for p in options.alpn if p not in ("h2", "http/1.1", "http/1.0")]
        if bad:
            raise r.RenderError(f"unsupported ALPN protocol {bad[0]!r}")
        out.append("alpn " + ",".join(options.alpn))
    return out


def _versions(versions: tuple[str, ...]) -> list[str]:
    """ssl-min-ver/ssl-max-ver for a contiguous range, no-* flags for a gap."""
    order = list(_TLS_VERSION_NAMES)
    if not versions or any(v not in _TLS_VERSION_NAMES for v in versions):
        raise r.RenderError(f"unsupported tls_versions {versions!r}")
    positions = sorted({order.index(v) for v in versions})
    low, high = positions[0], positions[-1]
    out = [f"ssl-min-ver {_TLS_VERSION_NAMES[order[low]][0]}",
           f"ssl-max-ver {_TLS_VERSION_NAMES[order[high]][0]}"]
    if len(positions) != high - low + 1:
        out = [_TLS_VERSION_NAMES[v][1] for v in order if order.index(v) not in positions]
    return out


def bind_options(tls: ListenerTLSSpec, certs_dir: str) -> str:
    if not tls.certificates:
        raise r.RenderError("a TERMINATED_HTTPS listener needs a certificate")
    parts = ["ssl"] + [f"crt {_file(certs_dir, c, 'certificate')}" for c in tls.certificates]
    if tls.client_auth != "NONE":
        if tls.client_auth not in _VERIFY:
            raise r.RenderError(f"unsupported client_authentication {tls.client_auth!r}")
        parts.append(f"ca-file {_file(certs_dir, tls.client_ca, 'client CA')} "
                     f"verify {_VERIFY[tls.client_auth]}")
        if tls.client_crl is not None:
            parts.append(f"crl-file {_file(certs_dir, tls.client_crl, 'client CRL')}")
    return " ".join(parts + _protocol_options(tls.options, alpn=True))


def server_options(tls: PoolTLSSpec, certs_dir: str, http_mode: bool, terminated: bool) -> str:
    parts = ["ssl"]
    if tls.ca is not None:
        parts.append(f"ca-file {_file(certs_dir, tls.ca, 'pool CA')} verify required")
        if tls.crl is not None:
            parts.append(f"crl-file {_file(certs_dir, tls.crl, 'pool CRL')}")
    else:
        parts.append("verify none")
    if tls.client_cert is not None:
        parts.append(f"crt {_file(certs_dir, tls.client_cert, 'pool client certificate')}")
    if terminated:
        parts.append("sni ssl_fc_sni")  # pass the client's server name on
    # ALPN to a member only where haproxy parses the HTTP it forwards.
    return " ".join(parts + _protocol_options(tls.options, alpn=http_mode))


def ssl_headers(insert_headers: dict) -> tuple[tuple[str, str], ...]:
    return tuple((name, sample) for name, sample in _SSL_HEADERS.items()
                 if r.header_enabled(insert_headers, name))


def hsts(tls: ListenerTLSSpec) -> str:
    if tls.hsts_max_age is None:
        return ""
    value = f"max-age={r.check_int(tls.hsts_max_age, 'hsts_max_age', 0, 2**31 - 1)}"
    if tls.hsts_include_subdomains:
        value += "; includeSubDomains"
    if tls.hsts_preload:
        value += "; preload"
    return value


def allowed_src(cidrs: tuple[str, ...]) -> str:
    out = []
    for cidr in cidrs:
        try:
            if not _CIDR_CHARS.fullmatch(cidr):
                raise ValueError(cidr)
            out.append(str(ipaddress.ip_network(cidr, strict=False)))
        except ValueError:
            raise r.RenderError(f"invalid allowed_cidrs entry {cidr!r}") from None
    return " ".join(out)
