"""A tiny Identity v3 server on 127.0.0.1 for the keystone auth tests: version
discovery, POST /v3/auth/tokens (the service user's password login) and
GET /v3/auth/tokens (validating a user's token). Enough for the real keystonemiddleware."""
from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SERVICE_TOKEN = "service-token-0001"
DOMAIN = {"id": "default", "name": "Default"}


def _iso(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


class FakeKeystone:
    def __init__(self, username: str = "portus", password: str = "secret") -> None:
        self.username = username
        self.password = password
        self.users: dict[str, dict[str, Any]] = {}  # user token -> {project, roles, user}
        self.validations = 0
        self.logins = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeKeystone":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_token(self, token: str, project_id: str, roles: list[str],
                  user_id: str = "user-1", expires_in: float = 3600) -> None:
        self.users[token] = {"project": project_id, "roles": roles, "user": user_id,
                             "expires": dt.datetime.now(dt.timezone.utc)
                             + dt.timedelta(seconds=expires_in)}

    def _token_body(self, user_id: str, project_id: str, roles: list[str],
                    expires: dt.datetime) -> dict[str, Any]:
        now = dt.datetime.now(dt.timezone.utc)
        endpoints = [{"id": f"ep-{i}", "interface": i, "region": "RegionOne",
                      "region_id": "RegionOne", "url": self.url + "/v3"}
                     for i in ("public", "internal", "admin")]
        return {"token": {
            "methods": ["password"], "issued_at": _iso(now), "expires_at": _iso(expires),
            "user": {"id": user_id, "name": user_id, "domain": DOMAIN,
                     "password_expires_at": None},
            "project": {"id": project_id, "name": project_id, "domain": DOMAIN},
            "roles": [{"id": f"role-{r}", "name": r} for r in roles],
            "catalog": [{"id": "svc-identity", "type": "identity", "name": "keystone",
                         "endpoints": endpoints}],
            "audit_ids": ["audit"]}}

    def _version(self) -> dict[str, Any]:
        return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
                "links": [{"rel": "self", "href": self.url + "/v3/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.identity-v3+json"}]}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _not_found(self) -> None:
                self._send(404, {"error": {"code": 404, "title": "Not Found",
                                           "message": "Could not find token."}})

            def do_GET(self) -> None:
                path = self.path.split("?")[0].rstrip("/")
                if path == "":
                    self._send(300, {"versions": {"values": [fake._version()]}})
                elif path == "/v3":
                    self._send(200, {"version": fake._version()})
                elif path == "/v3/auth/tokens":
                    if self.headers.get("X-Auth-Token") != SERVICE_TOKEN:
                        self._send(401, {"error": {"code": 401, "title": "Unauthorized",
                                                   "message": "bad service token"}})
                        return
                    fake.validations += 1
                    user = fake.users.get(self.headers.get("X-Subject-Token", ""))
                    if user is None or user["expires"] <= dt.datetime.now(dt.timezone.utc):
                        self._not_found()
                        return
                    body = fake._token_body(user["user"], user["project"], user["roles"],
                                            user["expires"])
                    self._send(200, body, {"X-Subject-Token": self.headers["X-Subject-Token"]})
                else:
                    self._send(404, {"error": {"code": 404, "message": "no such path"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                request = json.loads(self.rfile.read(length) or b"{}")
                if self.path.rstrip("/") != "/v3/auth/tokens":
                    self._send(404, {"error": {"code": 404, "message": "no such path"}})
                    return
                user = request.get("auth", {}).get("identity", {}).get("password", {}).get(
                    "user", {})
                if user.get("name") != fake.username or user.get("password") != fake.password:
                    self._send(401, {"error": {"code": 401, "title": "Unauthorized",
                                               "message": "The request requires auth."}})
                    return
                fake.logins += 1
                expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
                self._send(201, fake._token_body("svc-user", "service-project",
                                                 ["service", "admin"], expires),
                           {"X-Subject-Token": SERVICE_TOKEN})

        return Handler
