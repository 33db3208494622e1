"""API errors in Octavia's (WSME) fault format and their HTTP codes."""
from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

LOG = logging.getLogger(__name__)


class APIError(Exception):
    code = 400

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class BadRequest(APIError):
    code = 400


class InvalidField(BadRequest):
    def __init__(self, field: str, value: Any, reason: str) -> None:
        super().__init__(
            f"Invalid input for field/attribute {field}. Value: '{_short(value)}'. {reason}")


class ValidationFailure(BadRequest):
    """Octavia's ValidationException."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"Validation failure: {detail}")
class DisabledOption(BadRequest):
    """An option the operator switched off ([api] allow_*)."""

    def __init__(self, option: str, value: str) -> None:
        super().__init__(f"The selected {option} is not allowed in this deployment: {value}")


class ListenerNoChildren(BadRequest):
    def __init__(self, protocol: str) -> None:
        super().__init__(f"Protocol {protocol} listeners cannot have child objects.")


class Forbidden(APIError):
    code = 403

    def __init__(self, message: str = "Policy does not allow this request to be performed.") -> None:
        super().__init__(message)


class NotFound(APIError):
    code = 404

    def __init__(self, resource: str, obj_id: str) -> None:
        super().__init__(f"{resource} {obj_id} not found.")


class Conflict(APIError):
    code = 409


class PendingState(Conflict):
    def __init__(self, state: str, lb_id: str) -> None:
        super().__init__(f"Invalid state {state} of loadbalancer resource {lb_id}")


class Immutable(Conflict):
    def __init__(self, resource: str, obj_id: str) -> None:
        super().__init__(f"{resource} {obj_id} is immutable and cannot be updated.")


def fault(code: int, message: str) -> JSONResponse:
    body = {"faultcode": "Client" if code < 500 else "Server",
            "faultstring": message, "debuginfo": None}
    return JSONResponse(body, status_code=code)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 200 else text[:200] + "..."


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def validation_message(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "Invalid input."
    err = errors[0]
    loc = tuple(err.get("loc", ()))
    etype = err.get("type", "")
    if etype == "json_invalid":
        return "Invalid input: the request body is not valid JSON."
    if etype == "extra_forbidden":
        return (f"Invalid input for field/attribute {_field_path(loc[:-1])}. "
                f"Unknown attribute for argument {_field_path(loc[:-1])}: {loc[-1]}")
    if etype == "missing":
        return f"Invalid input for field/attribute {_field_path(loc)}. Mandatory field missing."
    msg = str(err.get("msg", "invalid value"))
    msg = msg.removeprefix("Value error, ")
    if etype == "literal_error":  # an enum value portus does not offer (e.g. type PING)
        msg = f"'{_short(err.get('input'))}' is not supported. {msg}"
    return (f"Invalid input for field/attribute {_field_path(loc)}. "
            f"Value: '{_short(err.get('input'))}'. {msg}")


async def api_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, APIError)
    return fault(exc.code, exc.message)


async def validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return fault(400, validation_message(exc))


async def http_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    messages = {404: "The resource could not be found.", 405: "The method is not allowed for this resource."}
    return fault(exc.status_code, str(exc.detail) if exc.detail and exc.status_code not in messages
                 else messages.get(exc.status_code, "Error"))


async def unexpected_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    LOG.exception("unexpected error: %s", exc)
    return fault(500, "An unexpected error occurred; see the API log.")
