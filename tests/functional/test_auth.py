"""Authentication: the token strategy (file and database tokens, the CLI, expiry, 401s)
and the keystone strategy against a fake Identity server with the real keystonemiddleware."""
from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path
from typing import Any, Iterator

import pytest

from portus import cli
from portus.api import tokens
from portus.api.app import create_app
from portus.api.deps import Services
from portus.api.policy import PolicyError
from portus.common import config
from portus.db import models as m
from portus.db.session import Database
from tests.functional.auth_helpers import (  # noqa: F401  (fixtures)
    TokenApi, _token_session, secret, token_api, token_config)
from tests.functional.conftest import assert_fault, empty_tables
from tests.functional.fake_keystone import FakeKeystone

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

LBS = "/v2/lbaas/loadbalancers"


def lb_body(api: TokenApi, **fields: Any) -> dict[str, Any]:
    return {"loadbalancer": {"vip_subnet_id": api.subnet_id, **fields}}


# --- the token strategy ------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"X-Auth-Token": ""}, {"X-Auth-Token": "nope"},
                                     {"Authorization": "Bearer nope"},
                                     {"Authorization": "Basic dXNlcjpwdw=="},
                                     {"X-Auth-Token": "secret-of-expired"}])
def test_missing_or_invalid_token_is_401(token_api: TokenApi, headers: dict[str, str]) -> None:
    token_api.headers.pop("X-Auth-Token")
    try:
        for method, path in (("GET", LBS), ("POST", LBS), ("GET", "/v2/lbaas/pools/x"),
                             ("GET", "/v2/lbaas/no-such-collection")):
            response = token_api.request(method, path, headers=headers, json={})
            assert_fault(response, 401)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert response.headers["X-Openstack-Request-Id"].startswith("req-")
    finally:
        token_api.headers["X-Auth-Token"] = secret("admin")


def test_version_document_needs_no_token(token_api: TokenApi) -> None:
    response = token_api.get("/", headers={"X-Auth-Token": ""})
    assert response.status_code == 200
    assert response.json()["versions"][-1]["id"] == "v2.30"


def test_bearer_and_x_auth_token_both_work(token_api: TokenApi) -> None:
    for headers in ({"X-Auth-Token": secret("member")},
                    {"Authorization": f"Bearer {secret('member')}"},
                    {"authorization": f"bearer {secret('member')}"}):
        assert token_api.get(LBS, headers=headers).status_code == 200


def test_project_comes_from_the_token_not_headers(token_api: TokenApi) -> None:
    member = {"X-Auth-Token": secret("member"), "X-Project-Id": "p2", "X-Roles": "admin"}
    lb = token_api.expect("POST", LBS, 201, lb_body(token_api), headers=member)["loadbalancer"]
    assert lb["project_id"] == "p1"
    # Naming another project in the body needs admin.
    response = token_api.post(LBS, json=lb_body(token_api, project_id="p2"), headers=member)
    assert_fault(response, 403, "Policy does not allow this request to be performed.")
    admin = token_api.expect("POST", LBS, 201, lb_body(token_api, project_id="p2"))
    assert admin["loadbalancer"]["project_id"] == "p2"


def test_database_tokens_and_expiry(token_api: TokenApi) -> None:
    db = token_api.db
    token_id, token = tokens.create(db, "p7", ["member"], name="ci", expires_in=3600)
    with db.read() as session:
        row = session.get(m.ApiToken, token_id)
        assert row is not None and row.token_hash == tokens.digest(token)
        assert token not in repr(row.__dict__)  # only the hash is stored
    headers = {"X-Auth-Token": token}
    lb = token_api.expect("POST", LBS, 201, lb_body(token_api), headers=headers)
    assert lb["loadbalancer"]["project_id"] == "p7"
    with db.write() as session:
        row = session.get(m.ApiToken, token_id)
        assert row is not None
        row.expires_at = m.utcnow() - dt.timedelta(seconds=1)
    assert_fault(token_api.get(LBS, headers=headers), 401, "invalid or has expired")
    assert tokens.delete(db, token_id)
    assert not tokens.delete(db, token_id)
    assert_fault(token_api.get(LBS, headers=headers), 401)


def test_token_file_must_hold_hashes_only(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "tokens.toml"
    path.write_text('[[token]]\ntoken = "plain"\nproject_id = "p1"\nroles = ["admin"]\n')
    cfg = token_config(tmp_path, token_file=str(path))
    with pytest.raises(tokens.TokenFileError, match="never the secret"):
        create_app(Services(cfg, database, lambda _lb: None))


def test_policy_file_errors_stop_the_start(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text('"os_load-balancer_api:loadbalancer:get_one": "rule:no-such-rule"\n')
    cfg = token_config(tmp_path, policy_file=str(path))
    with pytest.raises(PolicyError, match="no-such-rule"):
        create_app(Services(cfg, database, lambda _lb: None))


def test_policy_file_override_applies(token_api: TokenApi, tmp_path: Path) -> None:
    # Readers may not see load balancers here; members still may.
    path = tmp_path / "policy.yaml"
    path.write_text('"os_load-balancer_api:loadbalancer:get_one": '
                    '"rule:load-balancer:member_and_owner or rule:load-balancer:admin"\n')
    cfg = token_config(tmp_path, policy_file=str(path), token_file=token_api.cfg.api.token_file)
    lb = token_api.create_lb(project_id="p1")
    with TestClient(create_app(Services(cfg, token_api.db, lambda _lb: None))) as client:
        url = f"{LBS}/{lb['id']}"
        assert client.get(url, headers={"X-Auth-Token": secret("member")}).status_code == 200
        assert_fault(client.get(url, headers={"X-Auth-Token": secret("reader")}), 403)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_cli_token_commands(database: Database, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "DEFAULT_CONFIG_PATHS", ())
    monkeypatch.delenv("PORTUS_CONFIG", raising=False)
    base = ["--data-dir", str(tmp_path)]
    assert cli.main(base + ["token", "create", "--project", "p5", "--roles", "member, reader",
                            "--name", "deploy", "--expires-in", "600"]) == 0
    out = capsys.readouterr().out
    token = next(line.split()[1] for line in out.splitlines() if line.startswith("token "))
    token_id = next(line.split()[1] for line in out.splitlines() if line.startswith("id "))
    assert cli.main(base + ["token", "list"]) == 0
    listing = capsys.readouterr().out
    assert token_id in listing and "deploy" in listing and "member,reader" in listing
    assert token not in listing

    cfg = token_config(tmp_path)
    db = Database.from_url(cfg.database_url)
    try:
        with TestClient(create_app(Services(cfg, db, lambda _lb: None))) as client:
            response = client.get(LBS, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            assert cli.main(base + ["token", "delete", token_id]) == 0
            assert_fault(client.get(LBS, headers={"Authorization": f"Bearer {token}"}), 401)
        with pytest.raises(SystemExit, match="no token"):
            cli.main(base + ["token", "delete", token_id])
    finally:
        db.dispose()


def test_noauth_callers_are_admins(api: Any) -> None:
    lb = api.create_lb(project_id="p1")
    for project in ("p2", None):
        headers = {"X-Project-Id": project} if project else {}
        assert api.get(f"{LBS}/{lb['id']}", headers=headers).status_code == 200
        listed = api.get(LBS, headers=headers).json()["loadbalancers"]
        assert [x["id"] for x in listed] == [lb["id"]]


# --- the keystone strategy --------------------------------------------------------

@pytest.fixture
def keystone_api(database: Database, tmp_path: Path) -> Iterator[tuple[TestClient, FakeKeystone]]:
    empty_tables(database)
    with FakeKeystone(username="portus", password="pw") as keystone:
        cfg = token_config(tmp_path)
        cfg.api.auth_strategy = "keystone"
        cfg.keystone.auth_url = keystone.url + "/v3"
        cfg.keystone.www_authenticate_uri = keystone.url
        cfg.keystone.username = "portus"
        cfg.keystone.password = "pw"
        cfg.keystone.token_cache_time = -1  # validate every time: expiry is visible at once
        with TestClient(create_app(Services(cfg, database, lambda _lb: None))) as client:
            yield client, keystone


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_keystone_tokens(keystone_api: tuple[TestClient, FakeKeystone]) -> None:
    client, keystone = keystone_api
    keystone.add_token("tok-member", "kp1", ["member", "reader"], user_id="alice")
    keystone.add_token("tok-other", "kp2", ["member"], user_id="bob")
    keystone.add_token("tok-lb-admin", "kp3", ["load-balancer_admin"])
    keystone.add_token("tok-expired", "kp1", ["admin"], expires_in=-10)
    subnet = client.get("/", headers={}).status_code  # no token needed
    assert subnet == 200

    for headers in ({}, {"X-Auth-Token": "unknown"}, {"X-Auth-Token": "tok-expired"}):
        response = client.get(LBS, headers=headers)
        assert_fault(response, 401)
        assert response.headers["WWW-Authenticate"] == f'Keystone uri="{keystone.url}"'

    member = {"X-Auth-Token": "tok-member"}
    body = {"loadbalancer": {"vip_subnet_id": _subnet_id(client)}}
    lb = client.post(LBS, json=body, headers=member)
    assert lb.status_code == 201, lb.text
    lb_id = lb.json()["loadbalancer"]["id"]
    assert lb.json()["loadbalancer"]["project_id"] == "kp1"
    assert [x["id"] for x in client.get(LBS, headers=member).json()["loadbalancers"]] == [lb_id]

    other = {"X-Auth-Token": "tok-other"}
    assert client.get(LBS, headers=other).json()["loadbalancers"] == []
    assert_fault(client.get(f"{LBS}/{lb_id}", headers=other), 403,
                 "Policy does not allow this request to be performed.")
    assert_fault(client.get(LBS, params={"project_id": "kp1"}, headers=other), 403)
    # The deprecated load-balancer_admin role is still an administrator.
    lb_admin = {"X-Auth-Token": "tok-lb-admin"}
    assert client.get(f"{LBS}/{lb_id}", headers=lb_admin).status_code == 200
    assert keystone.logins >= 1 and keystone.validations >= 4


def _subnet_id(client: TestClient) -> str:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services.cfg.network.subnets[0].id
