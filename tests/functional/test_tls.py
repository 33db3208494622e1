"""TLS termination and re-encryption in the API, and the /v1/secrets store behind them."""
from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.functional.conftest import Api, assert_fault, dump
from tests.tls_material import material

LISTENERS = "/v2/lbaas/listeners"
POOLS = "/v2/lbaas/pools"
SECRETS = "/v1/secrets"


def store(api: Api, payload: str, project: str = "p1", **fields: Any) -> str:
    body = {"name": "s", "payload": payload, "payload_content_type": "text/plain", **fields}
    out = api.expect("POST", SECRETS, 201, body, headers={"X-Project-Id": project})
    return str(out["secret_ref"])


def pkcs12(api: Api, project: str = "p1") -> str:
    return store(api, material().server.pkcs12_b64((material().ca,)), project,
                 payload_content_type="application/octet-stream",
                 payload_content_encoding="base64")


def tls_listener(api: Api, lb_id: str, **fields: Any) -> Any:
    body = {"loadbalancer_id": lb_id, "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
            **fields}
    return api.post(LISTENERS, json={"listener": body})


# -- the secret store -------------------------------------------------------------

def test_secret_round_trip_is_encrypted_at_rest(api: Api) -> None:
    ref = store(api, material().server.pem_bundle)
    assert ref.startswith("http://testserver/v1/secrets/")
    meta = api.expect("GET", ref.removeprefix("http://testserver"), 200)
    assert meta["secret_ref"] == ref and meta["status"] == "ACTIVE"
    assert meta["content_types"] == {"default": "text/plain"}
    payload = api.get(ref.removeprefix("http://testserver") + "/payload",
                      headers={"Accept": "text/plain"})
    assert payload.status_code == 200 and payload.text == material().server.pem_bundle
    stored = [row for row in dump(api.db)["secret"]]
    assert len(stored) == 1 and "BEGIN" not in str(stored[0])


def test_secret_binary_payload_must_be_base64(api: Api) -> None:
    before = dump(api.db)
    bad = {"payload": "not base64!", "payload_content_type": "application/octet-stream",
           "payload_content_encoding": "base64"}
    assert_fault(api.post(SECRETS, json=bad), 400, "payload")
    missing = {"payload": "QUJD", "payload_content_type": "application/octet-stream"}
    assert_fault(api.post(SECRETS, json=missing), 400, "payload_content_encoding")
    assert_fault(api.post(SECRETS, json={"payload": "x", "payload_content_type": "image/png"}),
                 400, "payload_content_type")
    assert_fault(api.post(SECRETS, json={"payload": ""}), 400, "payload")
    assert dump(api.db) == before


def test_secret_list_is_paged_and_deletable(api: Api) -> None:
    refs = [store(api, f"p{i}", name=f"n{i}") for i in range(3)]
    page = api.expect("GET", SECRETS + "?limit=2", 200)
    assert page["total"] == 3 and len(page["secrets"]) == 2 and "next" in page
    assert api.expect("GET", SECRETS + "?name=n2", 200)["total"] == 1
    api.expect("DELETE", refs[0].removeprefix("http://testserver"), 204)
    api.expect("GET", refs[0].removeprefix("http://testserver"), 404)


def test_secret_list_filters(api: Api) -> None:
    """gophercloud's secrets.ListOpts (Terraform's openstack_keymanager_secret_v1 data
    source, which wants exactly one match) sends Barbican's alg, mode, bits and
    secret_type filters; bits=0 is no filter."""
    store(api, "a", name="aes", algorithm="aes", bit_length=256, mode="cbc",
          secret_type="symmetric")
    store(api, "b", name="cert", secret_type="certificate")
    store(api, "c", name="plain")

    def names(query: str) -> list[str]:
        return sorted(s["name"] for s in api.expect("GET", f"{SECRETS}?{query}", 200)["secrets"])

    assert names("alg=aes") == names("mode=cbc") == names("bits=256") == ["aes"]
    assert names("secret_type=certificate") == ["cert"]
    assert names("secret_type=opaque") == ["plain"]
    assert names("bits=0") == ["aes", "cert", "plain"]
    assert names("alg=aes&secret_type=certificate") == []
    assert api.expect("GET", f"{SECRETS}?secret_type=symmetric&bits=128", 200)["total"] == 0
    assert_fault(api.get(f"{SECRETS}?bits=many"), 400, "bits")


def test_secret_in_use_cannot_be_deleted(api: Api) -> None:
    lb = api.create_lb()
    ref = pkcs12(api)
    assert tls_listener(api, lb["id"], default_tls_container_ref=ref).status_code == 201
    assert_fault(api.delete(ref.removeprefix("http://testserver")), 409, "in use by listener")


# -- listeners --------------------------------------------------------------------

def test_terminated_https_listener_gets_tls_defaults(api: Api) -> None:
    lb = api.create_lb()
    ref = pkcs12(api)
    sni = store(api, material().other.pem_bundle)
    response = tls_listener(api, lb["id"], default_tls_container_ref=ref,
                            sni_container_refs=[sni], insert_headers={"X-SSL-Client-CN": "true"})
    assert response.status_code == 201, response.text
    listener = response.json()["listener"]
    assert listener["default_tls_container_ref"] == ref
    assert listener["sni_container_refs"] == [sni]
    assert listener["tls_versions"] == ["TLSv1.2", "TLSv1.3"]
    assert listener["alpn_protocols"] == ["h2", "http/1.1", "http/1.0"]
    assert listener["tls_ciphers"] == api.cfg.api.default_listener_ciphers
    assert listener["client_authentication"] == "NONE"


def test_client_authentication_with_ca_and_crl(api: Api) -> None:
    lb = api.create_lb()
    ca = store(api, material().ca.cert_pem.decode())
    crl = store(api, material().crl)
    listener = tls_listener(api, lb["id"], default_tls_container_ref=pkcs12(api),
                            client_authentication="MANDATORY", client_ca_tls_container_ref=ca,
                            client_crl_container_ref=crl, hsts_max_age=3600,
                            hsts_include_subdomains=True).json()["listener"]
    assert listener["client_authentication"] == "MANDATORY"
    assert listener["hsts_max_age"] == 3600 and listener["hsts_include_subdomains"] is True
    api.converge(lb["id"])
    # PUT null resets to the defaults; the CRL must go first (it needs the CA).
    path = f"{LISTENERS}/{listener['id']}"
    assert_fault(api.put(path, json={"listener": {"client_ca_tls_container_ref": None}}),
                 400, "client_authentication")
    out = api.expect("PUT", path, 200, {"listener": {
        "client_authentication": None, "client_crl_container_ref": None,
        "client_ca_tls_container_ref": None, "hsts_include_subdomains": None,
        "tls_versions": None}})["listener"]
    assert out["client_authentication"] == "NONE" and out["client_ca_tls_container_ref"] is None
    assert out["hsts_include_subdomains"] is False
    assert out["tls_versions"] == ["TLSv1.2", "TLSv1.3"]


@pytest.mark.parametrize("fields, fragment", [
    ({}, "default_tls_container_ref"),
    ({"default_tls_container_ref": "nope"}, "default_tls_container_ref"),
    ({"default_tls_container_ref": "CA"}, "holds no private key"),
    ({"default_tls_container_ref": "OTHER_PROJECT"}, "Could not retrieve certificate"),
    ({"sni_container_refs": ["http://x/v1/secrets/00000000-0000-0000-0000-000000000000"]},
     "sni_container_refs"),
    ({"client_authentication": "OPTIONAL"}, "client_ca_tls_container_ref"),
    ({"client_authentication": "SOMETIMES"}, "client_authentication"),
    ({"client_crl_container_ref": "CRL"}, "client_crl_container_ref"),
    ({"client_ca_tls_container_ref": "CA", "client_crl_container_ref": "FOREIGN_CRL"},
     "not signed by the CA"),
    ({"tls_versions": []}, "tls_versions"),
    ({"tls_versions": ["TLSv1.4"]}, "tls_versions"),
    ({"alpn_protocols": ["spdy"]}, "alpn_protocols"),
    ({"tls_ciphers": "ECDHE RSA"}, "tls_ciphers"),
    ({"tls_ciphers": "A" * 2049}, "tls_ciphers"),
    ({"hsts_preload": True}, "hsts_max_age"),
    ({"hsts_max_age": -1}, "hsts_max_age"),
    ({"allowed_cidrs": ["10.0.0.0/33"]}, "allowed_cidrs"),
    ({"allowed_cidrs": ["2001:db8::/64"]}, "allowed_cidrs"),
])
def test_invalid_tls_listener_is_400_and_writes_nothing(api: Api, fields: dict[str, Any],
                                                        fragment: str) -> None:
    lb = api.create_lb()
    names = {"CA": store(api, material().ca.cert_pem.decode()), "CRL": store(api, material().crl),
             "FOREIGN_CRL": store(api, material().foreign_crl),
             "OTHER_PROJECT": pkcs12(api, project="p2")}
    fields = {k: names.get(v, v) if isinstance(v, str) else v for k, v in fields.items()}
    if "default_tls_container_ref" not in fields and "sni_container_refs" not in fields and fields:
        fields["default_tls_container_ref"] = pkcs12(api)
    before = dump(api.db)
    assert_fault(tls_listener(api, lb["id"], **fields), 400, fragment)
    assert dump(api.db) == before


@pytest.mark.parametrize("fields", [
    {"default_tls_container_ref": "REF"}, {"sni_container_refs": ["REF"]},
    {"hsts_max_age": 10}, {"client_authentication": "MANDATORY"},
    {"insert_headers": {"X-SSL-Client-DN": "true"}},
])
def test_tls_fields_are_refused_on_plain_listeners(api: Api, fields: dict[str, Any]) -> None:
    lb = api.create_lb()
    ref = pkcs12(api)
    fields = {k: ([ref] if v == ["REF"] else ref if v == "REF" else v) for k, v in fields.items()}
    body = {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80, **fields}
    assert_fault(api.post(LISTENERS, json={"listener": body}), 400,
                 "only allowed on", next(iter(fields)))


def test_tls_options_are_stored_on_plain_listeners(api: Api,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Octavia accepts tls_ciphers, tls_versions and alpn_protocols on any listener and
    stores them; without TLS they do nothing. Their values are still checked."""
    lb = api.create_lb()
    options = {"tls_ciphers": "ECDHE-RSA-AES128-GCM-SHA256", "tls_versions": ["TLSv1.3"],
               "alpn_protocols": ["h2"]}
    body = {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80, **options}
    listener = api.expect("POST", LISTENERS, 201, {"listener": body})["listener"]
    assert {k: listener[k] for k in options} == options
    api.converge(lb["id"])
    assert {k: api.show("listener", listener["id"])[k] for k in options} == options
    changed = {"tls_versions": ["TLSv1.2"], "alpn_protocols": ["http/1.1"]}
    out = api.expect("PUT", f"{LISTENERS}/{listener['id']}", 200, {"listener": changed})
    assert {k: out["listener"][k] for k in changed} == changed
    api.converge(lb["id"])
    monkeypatch.setattr(api.cfg.api, "tls_cipher_prohibit_list", "RC4-MD5")
    before = dump(api.db)
    response = api.put(f"{LISTENERS}/{listener['id']}",
                       json={"listener": {"tls_ciphers": "RC4-MD5"}})
    assert_fault(response, 400, "tls_ciphers", "RC4-MD5")
    assert dump(api.db) == before


def test_allowed_cidrs_are_normalized_and_reset(api: Api) -> None:
    lb = api.create_lb()
    listener = api.create_listener(lb["id"], allowed_cidrs=["192.0.2.7/24", "198.51.100.0/24",
                                                            "192.0.2.0/24"])
    assert listener["allowed_cidrs"] == ["192.0.2.0/24", "198.51.100.0/24"]
    out = api.expect("PUT", f"{LISTENERS}/{listener['id']}", 200,
                     {"listener": {"allowed_cidrs": None}})["listener"]
    assert out["allowed_cidrs"] is None


def test_minimum_tls_version_and_prohibited_ciphers(api: Api,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    lb = api.create_lb()
    ref = pkcs12(api)
    monkeypatch.setattr(api.cfg.api, "minimum_tls_version", "TLSv1.2")
    monkeypatch.setattr(api.cfg.api, "tls_cipher_prohibit_list", "RC4-MD5:DES-CBC3-SHA")
    assert_fault(tls_listener(api, lb["id"], default_tls_container_ref=ref,
                              tls_versions=["TLSv1.1", "TLSv1.2"]), 400, "TLSv1.1", "minimum")
    assert_fault(tls_listener(api, lb["id"], default_tls_container_ref=ref,
                              tls_ciphers="RC4-MD5:AES128-SHA"), 400, "RC4-MD5")


def test_tls_listener_can_be_switched_off_by_the_operator(api: Api,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    lb = api.create_lb()
    ref = pkcs12(api)
    monkeypatch.setattr(api.cfg.api, "allow_tls_terminated_listeners", False)
    assert_fault(tls_listener(api, lb["id"], default_tls_container_ref=ref), 400,
                 "not allowed in this deployment")


def test_fully_populated_tls_load_balancer(api: Api) -> None:
    ref = pkcs12(api)
    ca = store(api, material().ca.cert_pem.decode())
    pool = {"name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "tls_enabled": True,
            "ca_tls_container_ref": ca}
    lb = api.create_lb(listeners=[{"protocol": "TERMINATED_HTTPS", "protocol_port": 443,
                                   "default_tls_container_ref": ref, "default_pool": pool}])
    created = api.show("pool", lb["pools"][0]["id"])
    assert created["tls_enabled"] is True and created["ca_tls_container_ref"] == ca
    assert created["tls_versions"] == ["TLSv1.2", "TLSv1.3"]
    bad = {"vip_subnet_id": api.subnet_id, "project_id": "p1",
           "listeners": [{"protocol": "TERMINATED_HTTPS", "protocol_port": 443}]}
    before = dump(api.db)
    assert_fault(api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": bad}), 400,
                 "loadbalancer.listeners.0.default_tls_container_ref")
    assert dump(api.db) == before


# -- pools ------------------------------------------------------------------------

def test_reencrypting_pool(api: Api) -> None:
    lb = api.create_lb()
    client = store(api, material().client.pem_bundle)
    ca = store(api, material().ca.cert_pem.decode())
    crl = store(api, material().crl)
    pool = api.create_pool(loadbalancer_id=lb["id"], tls_enabled=True, tls_container_ref=client,
                           ca_tls_container_ref=ca, crl_container_ref=crl,
                           alpn_protocols=["http/1.1"])
    assert pool["tls_enabled"] is True and pool["crl_container_ref"] == crl
    assert pool["alpn_protocols"] == ["http/1.1"]
    assert pool["tls_ciphers"] == api.cfg.api.default_pool_ciphers
    path = f"{POOLS}/{pool['id']}"
    before = dump(api.db)
    assert_fault(api.put(path, json={"pool": {"ca_tls_container_ref": None}}), 400,
                 "crl_container_ref")
    assert dump(api.db) == before
    out = api.expect("PUT", path, 200, {"pool": {"tls_enabled": False}})["pool"]
    assert out["tls_enabled"] is False


def test_plain_pool_keeps_tls_fields_null(api: Api) -> None:
    lb = api.create_lb()
    pool = api.create_pool(loadbalancer_id=lb["id"])
    assert pool["tls_enabled"] is False and pool["tls_versions"] is None


@pytest.mark.parametrize("fields, fragment", [
    ({"tls_container_ref": "CA"}, "holds no private key"),
    ({"crl_container_ref": "CRL"}, "requires ca_tls_container_ref"),
    ({"ca_tls_container_ref": "KEYONLY"}, "ca_tls_container_ref"),
    ({"tls_versions": ["SSLv2"]}, "tls_versions"),
])
def test_invalid_tls_pool_is_400(api: Api, fields: dict[str, Any], fragment: str) -> None:
    lb = api.create_lb()
    names = {"CA": store(api, material().ca.cert_pem.decode()), "CRL": store(api, material().crl),
             "KEYONLY": store(api, material().client.key_pem.decode())}
    fields = {k: names.get(v, v) if isinstance(v, str) else v for k, v in fields.items()}
    before = dump(api.db)
    body = {"loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
            "tls_enabled": True, **fields}
    assert_fault(api.post(POOLS, json={"pool": body}), 400, fragment)
    assert dump(api.db) == before


def test_secret_payload_accepts_der_ca_in_base64(api: Api) -> None:
    from cryptography.hazmat.primitives import serialization
    der = material().ca.cert.public_bytes(serialization.Encoding.DER)
    ca = store(api, base64.b64encode(der).decode(),
               payload_content_type="application/octet-stream",
               payload_content_encoding="base64")
    lb = api.create_lb()
    pool = api.create_pool(loadbalancer_id=lb["id"], tls_enabled=True, ca_tls_container_ref=ca)
    assert pool["ca_tls_container_ref"] == ca and pool["tls_enabled"] is True


def test_prometheus_listener_serves_over_tls_when_given_a_certificate(api: Api) -> None:
    lb = api.create_lb()
    ref = pkcs12(api)
    body = {"loadbalancer_id": lb["id"], "protocol": "PROMETHEUS", "protocol_port": 9443,
            "default_tls_container_ref": ref}
    listener = api.expect("POST", LISTENERS, 201, {"listener": body})["listener"]
    assert listener["default_tls_container_ref"] == ref
    assert listener["tls_versions"] == ["TLSv1.2", "TLSv1.3"]
    api.converge(lb["id"])
    plain = {"loadbalancer_id": lb["id"], "protocol": "PROMETHEUS", "protocol_port": 9100,
             "hsts_max_age": 10}
    assert_fault(api.post(LISTENERS, json={"listener": plain}), 400, "hsts_max_age",
                 "PROMETHEUS listeners with a certificate")


def test_store_parses_a_secret_once_and_still_checks_the_row(api: Api) -> None:
    """Payloads never change, so parsing is cached by ciphertext; the row is read on
    every call, so a deleted secret or another project is still refused."""
    from portus.drivers.certificates.store import CertificateStore, SecretUnavailable

    ref, ca_ref = store(api, material().server.pem_bundle), store(api, material().ca.cert_pem.decode())
    crl_ref = store(api, material().crl)
    certs: CertificateStore = api.app.state.services.certs  # type: ignore[attr-defined]
    opened: list[str] = []
    real_open = certs.box.open

    def counting_open(token: str) -> bytes:
        opened.append(token)
        return real_open(token)

    certs.box.open = counting_open  # type: ignore[method-assign]
    try:
        with api.db.read() as session:
            for _ in range(3):
                bundle = certs.certificate(session, ref, "p1")
                assert certs.crl(session, crl_ref, ca_ref, "p1").startswith(b"-----BEGIN X509 CRL")
            assert "www.example.test" in bundle.names
            assert len(opened) == 3  # certificate, CA, CRL: once each
            with pytest.raises(SecretUnavailable):
                certs.certificate(session, ref, "p2")
        api.expect("DELETE", ref.removeprefix("http://testserver"), 204,
                   headers={"X-Project-Id": "p1"})
        with api.db.read() as session, pytest.raises(SecretUnavailable):
            certs.certificate(session, ref, "p1")
    finally:
        del certs.box.open  # type: ignore[method-assign]
