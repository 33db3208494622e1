"""`auth_strategy = "keystone"`: keystonemiddleware's auth_token, driven from ASGI.

keystonemiddleware is WSGI middleware. Rather than re-implement token validation
(caching, revocation, service tokens, discovery), portus calls it as it is: for each
request a minimal WSGI environ carrying only the request's headers goes through
``AuthProtocol`` around a tiny inner WSGI app. If the token is valid the inner app is
reached and the environ holds the identity headers the middleware set (X-Identity-
Status, X-Project-Id, X-Roles, X-User-Id); otherwise the middleware answers itself
(401) and the inner app never runs. It blocks on HTTP to Keystone, so the caller runs
`identify` in the thread pool.
"""
from __future__ import annotations

import io
from typing import Any, Callable, Iterable, Mapping

from portus.api.auth import Identity, Unauthorized
from portus.common.config import KeystoneConfig

_REACHED = "portus.keystone.reached"
StartResponse = Callable[..., Any]


def _inner_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    environ[_REACHED] = True  # the middleware let the request through
    start_response("204 No Content", [])
    return [b""]


def middleware_conf(cfg: KeystoneConfig) -> dict[str, str]:
    """The [keystone] section as keystonemiddleware's paste-style options."""
    conf = {
        "www_authenticate_uri": cfg.www_authenticate_uri or cfg.auth_url,
        "auth_type": cfg.auth_type,
        "auth_url": cfg.auth_url,
        "username": cfg.username,
        "password": cfg.password,
        "project_name": cfg.project_name,
        "user_domain_name": cfg.user_domain_name,
        "project_domain_name": cfg.project_domain_name,
        "interface": cfg.interface,
        "service_token_roles_required": str(cfg.service_token_roles_required),
        "insecure": str(cfg.insecure),
        "token_cache_time": str(cfg.token_cache_time),
        "delay_auth_decision": "False",  # an invalid token never reaches portus
    }
    optional = {"region_name": cfg.region_name, "cafile": cfg.cafile,
                "memcached_servers": cfg.memcached_servers,
                "http_connect_timeout": str(cfg.http_connect_timeout or "")}
    conf.update({k: v for k, v in optional.items() if v})
    return conf


class KeystoneAuth:
    blocking = True

    def __init__(self, cfg: KeystoneConfig) -> None:
        from keystonemiddleware import auth_token

        self._protocol = auth_token.AuthProtocol(_inner_app, middleware_conf(cfg))

    def identify(self, headers: Mapping[str, str]) -> Identity:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/", "QUERY_STRING": "",
            "SERVER_NAME": "portus", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(),
            "wsgi.errors": io.StringIO(), "wsgi.multithread": True,
            "wsgi.multiprocess": False, "wsgi.run_once": False,
        }
        for name, value in headers.items():
            if name.lower() in ("content-type", "content-length"):
                continue
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        answer: dict[str, Any] = {}

        def start_response(status: str, response_headers: list[tuple[str, str]],
                           exc_info: Any = None) -> Callable[[bytes], None]:
            answer["status"] = status
            answer["headers"] = response_headers
            return lambda _data: None

        body = self._protocol(environ, start_response)
        for _ in body:  # drain, so the middleware finishes
            pass
        if hasattr(body, "close"):
            body.close()
        if not environ.get(_REACHED):
            challenge = dict((k.lower(), v) for k, v in answer.get("headers", []))
            raise Unauthorized("The request you have made requires authentication.",
                               challenge.get("www-authenticate"))
        if environ.get("HTTP_X_IDENTITY_STATUS") != "Confirmed":
            raise Unauthorized("The request you have made requires authentication.")
        roles = tuple(r.strip() for r in environ.get("HTTP_X_ROLES", "").split(",") if r.strip())
        return Identity(project_id=environ.get("HTTP_X_PROJECT_ID") or None,
                        user_id=environ.get("HTTP_X_USER_ID") or None, roles=roles)
