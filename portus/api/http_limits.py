"""Request body size limit and CORS, as Octavia's middleware pipeline has them.

Both are plain ASGI layers so a too-large body is refused before any handler (or
JSON parser) sees it.
"""
from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portus.common.config import ApiConfig

CORS_HEADERS = ["X-Auth-Token", "X-Openstack-Request-Id", "Content-Type"]
CORS_METHODS = ["GET", "PUT", "POST", "DELETE"]


class BodySizeLimit:
    """413 (fault format) for a body over `limit` bytes, by Content-Length or, for a
    chunked body, by counting; the body read so far is replayed to the app."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.limit <= 0:
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self._refuse(send)
            return
        messages: list[Message] = []
        size = 0
        while True:  # buffer (at most `limit` bytes) so an oversized body never reaches the app
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"faultcode": "Client", "debuginfo": None,
                           "faultstring": f"Request is too large. The limit is {self.limit} "
                                          f"bytes."}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def _origins(value: Any) -> list[str]:
    # A list in TOML; a comma-separated string from PORTUS_API__CORS_ALLOWED_ORIGINS.
    if isinstance(value, str):
        return [o.strip() for o in value.split(",") if o.strip()]
    return [str(o) for o in value or []]


def install(app: FastAPI, cfg: ApiConfig) -> None:
    """Add the layers; call before the request-id middleware so their answers get an id."""
    app.add_middleware(BodySizeLimit, limit=cfg.max_request_body_size)
    origins = _origins(cfg.cors_allowed_origins)
    if origins:  # off unless configured
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=CORS_METHODS,
                           allow_headers=CORS_HEADERS, expose_headers=["X-Openstack-Request-Id"])
