"""Controller side of the amphora agent API (mutual TLS, JSON).

The controller connects to the amphora's management IP but verifies the
server certificate against the amphora *id* (its CN and DNS SAN), so a
certificate moved to another amphora, or an address reused by another one,
is refused.
"""
from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from typing import Any

API = "/1.0"


class AgentUnreachable(Exception):
    """No answer: connection refused or reset, timeout, or a TLS failure."""


class AgentError(Exception):
    """The agent answered with a non-2xx status."""

    def __init__(self, status: int, message: str, details: str = "", generation: int | None = None) -> None:
        super().__init__(f"{status}: {message}" + (f"\n{details}" if details else ""))
        self.status = status
        self.message = message
        self.details = details
        # The amphora's applied generation when it said (always on 409).
        self.generation = generation


class _Connection(http.client.HTTPSConnection):
    """HTTPS to an IP, with the TLS name check against the amphora id."""

    def __init__(self, ip: str, port: int, server_name: str, ctx: ssl.SSLContext, timeout: float) -> None:
        super().__init__(ip, port, timeout=timeout, context=ctx)
        self._server_name = server_name
        self._ctx = ctx

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.sock = self._ctx.wrap_socket(sock, server_hostname=self._server_name)
        except BaseException:
            sock.close()
            raise


class AgentClient:
    def __init__(
        self,
        ca_path: str,
        cert_path: str,
        key_path: str,
        port: int = 9443,
        timeout: float = 10.0,
        apply_timeout: float = 90.0,
    ) -> None:
        self.port = port
        self.timeout = timeout
        # PUT/DELETE answer only once haproxy has validated and reloaded (or
        # soft-stopped), which can take longer than a plain query.
        self.apply_timeout = max(timeout, apply_timeout)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED + check_hostname
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_verify_locations(cafile=str(ca_path))
        ctx.load_cert_chain(str(cert_path), str(key_path))
        self._ctx = ctx

    def info(self, amphora_id: str, ip: str, timeout: float | None = None) -> dict[str, Any]:
        return self._json(self._request(amphora_id, ip, "GET", f"{API}/info", timeout=timeout))

    def put_config(self, amphora_id: str, ip: str, text: str, generation: int,
                   keepalived: str | None = None) -> dict[str, Any]:
        """Push haproxy.cfg; with ``keepalived`` (ACTIVE_STANDBY) both go in one JSON
        body, so the agent checks both before applying either."""
        if keepalived is None:
            body, ctype = text.encode("utf-8"), "text/plain; charset=utf-8"
        else:
            body = json.dumps({"haproxy": text, "keepalived": keepalived}).encode("utf-8")
            ctype = "application/json"
        resp = self._request(
            amphora_id, ip, "PUT", f"{API}/config", body=body,
            headers={"X-Portus-Generation": str(generation), "Content-Type": ctype},
            timeout=self.apply_timeout,
        )
        return self._json(resp)

    def put_certificates(self, amphora_id: str, ip: str,
                         files: tuple[tuple[str, bytes], ...]) -> None:
        """Upload the TLS files a configuration needs that the amphora lacks."""
        if not files:
            return
        have = set(self._json(self._request(amphora_id, ip, "GET", f"{API}/certificates"))
                   .get("files", []))
        for name, content in files:
            if name not in have:
                self._json(self._request(amphora_id, ip, "PUT", f"{API}/certificates/{name}",
                                         body=content,
                                         headers={"Content-Type": "application/x-pem-file"}))
    def put_udp(self, amphora_id: str, ip: str, doc: dict[str, Any], generation: int) -> dict[str, Any]:
        """The UDP/SCTP listeners (portus.amphora.render_nft.udp_config) for nftables."""
        resp = self._request(
            amphora_id, ip, "PUT", f"{API}/udp", body=json.dumps(doc).encode("utf-8"),
            headers={"X-Portus-Generation": str(generation), "Content-Type": "application/json"},
            timeout=self.apply_timeout,
        )
        return self._json(resp)

    def put_server_certificate(self, amphora_id: str, ip: str, pem: bytes) -> dict[str, Any]:
        """Rotate the agent's own certificate (certificate and key in one PEM body)."""
        return self._json(self._request(amphora_id, ip, "PUT", f"{API}/certificate", body=pem,
                                        headers={"Content-Type": "application/x-pem-file"}))

    def get_config(self, amphora_id: str, ip: str) -> tuple[str, int]:
        status, headers, body = self._request(amphora_id, ip, "GET", f"{API}/config")
        return body.decode("utf-8"), int(headers.get("x-portus-generation", "0"))

    def delete_config(self, amphora_id: str, ip: str) -> dict[str, Any]:
        return self._json(self._request(amphora_id, ip, "DELETE", f"{API}/config", timeout=self.apply_timeout))

    def stats(self, amphora_id: str, ip: str) -> dict[str, Any]:
        return self._json(self._request(amphora_id, ip, "GET", f"{API}/stats"))

    def wait_ready(self, amphora_id: str, ip: str, timeout: float) -> dict[str, Any]:
        """Poll /info every 50 ms until the agent answers; AgentUnreachable on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                return self._json(self._request(
                    amphora_id, ip, "GET", f"{API}/info", timeout=max(0.1, min(self.timeout, remaining)),
                ))
            except AgentUnreachable as exc:
                if time.monotonic() + 0.05 > deadline:
                    raise AgentUnreachable(f"not ready after {timeout}s: {exc}") from None
            time.sleep(0.05)

    # -- internals -------------------------------------------------------

    def _request(
        self,
        amphora_id: str,
        ip: str,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        conn = _Connection(ip, self.port, amphora_id, self._ctx, timeout or self.timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:  # ssl.SSLError, timeouts are OSErrors
            raise AgentUnreachable(f"amphora {amphora_id} at {ip}:{self.port}: {exc}") from exc
        finally:
            conn.close()
        resp_headers = {k.lower(): v for k, v in resp.getheaders()}
        if not 200 <= resp.status < 300:
            raise _error(resp.status, data)
        return resp.status, resp_headers, data

    @staticmethod
    def _json(resp: tuple[int, dict[str, str], bytes]) -> dict[str, Any]:
        status, _, body = resp
        try:
            value = json.loads(body)
        except ValueError:
            raise AgentError(status, "agent answered with invalid JSON", body[:500].decode("utf-8", "replace"))
        if not isinstance(value, dict):
            raise AgentError(status, "agent answered with a non-object JSON value")
        return value


def _error(status: int, body: bytes) -> AgentError:
    try:
        value = json.loads(body)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        return AgentError(status, body[:500].decode("utf-8", "replace") or "no body")
    gen = value.get("generation")
    return AgentError(
        status,
        str(value.get("error", "unknown error")),
        str(value.get("details", "")),
        gen if isinstance(gen, int) and not isinstance(gen, bool) else None,
    )
