"""TLS through a real amphora: termination with SNI, client certificates checked
against a CA and CRL, HSTS, and re-encryption to an HTTPS member that itself
requires the pool's client certificate."""
from __future__ import annotations

import json
import socket
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import openstack
import pytest

from tests.e2e.harness import PROJECT, PortusLab, wait_active, wait_for
from tests.tls_material import Issued, material

pytestmark = pytest.mark.e2e


def store(lab: PortusLab, payload: str, binary: bool = False) -> str:
    body: dict[str, Any] = {"name": "e2e", "payload": payload,
                            "payload_content_type": "text/plain"}
    if binary:
        body.update(payload_content_type="application/octet-stream",
                    payload_content_encoding="base64")
    req = urllib.request.Request(lab.endpoint + "/v1/secrets", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          "X-Project-Id": PROJECT}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return str(json.load(resp)["secret_ref"])


def https_get(lab: PortusLab, tmp: Path, address: str, port: int, server_name: str,
              client: Issued | None = None) -> tuple[str, int, dict[str, str], str] | None:
    """(certificate CN, status, headers, body) of one HTTPS request, None if refused."""
    lab._check_target(address)
    ctx = ssl.create_default_context(cafile=str(tmp / "ca.pem"))
    if client is not None:
        path = tmp / f"client-{client.cert.serial_number}.pem"
        path.write_text(client.pem_bundle)
        ctx.load_cert_chain(str(path))
    try:
        with socket.create_connection((address, port), timeout=3) as raw:
            with ctx.wrap_socket(raw, server_hostname=server_name) as conn:
                cn = dict(x[0] for x in conn.getpeercert()["subject"])["commonName"]
                conn.sendall(f"GET / HTTP/1.0\r\nHost: {server_name}\r\n\r\n".encode())
                data = b""
                while chunk := conn.recv(65536):
                    data += chunk
    except (OSError, ssl.SSLError):
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    if len(lines[0].split()) < 2:
        return None
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    return cn, int(lines[0].split()[1]), headers, body.decode().strip()


def test_tls_termination_client_auth_and_reencryption(
        lab: PortusLab, sdk: openstack.connection.Connection, tmp_path: Path) -> None:
    m = material()
    (tmp_path / "ca.pem").write_bytes(m.ca.cert_pem)
    (tmp_path / "backend.pem").write_text(m.server.pem_bundle)
    # The member speaks HTTPS and demands a client certificate from our CA.
    member = lab.backend("tls", 0, port=8443,
                         tls_args=(str(tmp_path / "backend.pem"), str(tmp_path / "ca.pem")))
    default = store(lab, m.server.pkcs12_b64((m.ca,)), binary=True)
    sni = store(lab, m.other.pem_bundle)
    ca = store(lab, m.ca.cert_pem.decode())
    crl = store(lab, m.crl)
    client = store(lab, m.client.pem_bundle)
    pool = {"name": "tls", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
            "tls_enabled": True, "ca_tls_container_ref": ca, "tls_container_ref": client,
            "members": [{"address": member.address, "protocol_port": member.port}]}
    lb = sdk.load_balancer.create_load_balancer(
        name="tls", project_id=PROJECT, vip_subnet_id=lab.subnet.id, pools=[pool],
        listeners=[
            {"name": "open", "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
             "default_tls_container_ref": default, "sni_container_refs": [sni],
             "hsts_max_age": 600, "default_pool": {"name": "tls"}},
            {"name": "mtls", "protocol": "TERMINATED_HTTPS", "protocol_port": 8443,
             "default_tls_container_ref": default, "client_authentication": "MANDATORY",
             "client_ca_tls_container_ref": ca, "client_crl_container_ref": crl,
             "default_pool": {"name": "tls"}}])
    wait_active(sdk, lb.id)
    vip = lb.vip_address

    def answered(port: int, name: str, client: Issued | None = None) -> Any:
        got = https_get(lab, tmp_path, vip, port, name, client)
        return got if got is not None and got[1] == 200 else None

    cn, _, headers, body = wait_for("HTTPS through the amphora",
                                    lambda: answered(443, "www.example.test"), 20)
    assert (cn, body) == ("www.example.test", "hello from tls")  # re-encrypted, member mTLS ok
    assert headers["strict-transport-security"] == "max-age=600"
    # The certificate is chosen by SNI; the member is then verified against that same
    # name, which its certificate (www.example.test) does not carry: 503.
    sni_got = https_get(lab, tmp_path, vip, 443, "api.example.test")
    assert sni_got is not None and sni_got[:2] == ("api.example.test", 503)

    assert https_get(lab, tmp_path, vip, 8443, "www.example.test") is None  # no client cert
    assert https_get(lab, tmp_path, vip, 8443, "www.example.test", m.revoked_client) is None
    ok = answered(8443, "www.example.test", m.client)
    assert ok is not None and ok[3] == "hello from tls"

    # A secret in use cannot be deleted; the whole tree goes away with a cascade delete.
    secret_id = default.rsplit("/", 1)[1]
    req = urllib.request.Request(f"{lab.endpoint}/v1/secrets/{secret_id}", method="DELETE",
                                 headers={"X-Project-Id": PROJECT})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=10)
    assert refused.value.code == 409
    sdk.load_balancer.delete_load_balancer(lb.id, cascade=True)
    wait_for("the amphora gone", lambda: not lab.amphora_namespaces(), 30)
