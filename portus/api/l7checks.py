"""Cross-field rules of L7 policies and rules (Octavia's l7rule_data and
sanitize_l7policy_api_args, as facts; the code is our own).

Pure functions on values: the same checks serve POST, PUT (on the merged result) and
the fully populated create. Every failure is a 400 naming the field.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from portus.api import errors

REJECT = "REJECT"
REDIRECT_TO_URL = "REDIRECT_TO_URL"
REDIRECT_TO_POOL = "REDIRECT_TO_POOL"
REDIRECT_PREFIX = "REDIRECT_PREFIX"
DEFAULT_REDIRECT_CODE = 302
MAX_RULES_PER_POLICY = 50
L7_LISTENER_PROTOCOLS = ("HTTP", "TERMINATED_HTTPS")

# HTTP token characters without "#", "$" and "'", which haproxy's parser treats
# specially inside a fetch argument; nobody names a header or cookie with them.
_TOKEN_RE = re.compile(r"^[A-Za-z0-9!%&*+.^_`|~-]+$")
_DN_FIELD_RE = re.compile(r"^[a-zA-Z][A-Za-z0-9-]*$")
# Printable ASCII (a header value may hold spaces and quotes; the renderer quotes it).
_HEADER_SAFE_RE = re.compile(r"^[\x20-\x7e]+$")
# Octavia's header-safe comparison values (RFC 7230): visible ASCII without spaces, or
# a double-quoted string that may hold spaces. (Octavia also lets a tab into the
# quoted form; portus keeps to what its renderer quotes, printable ASCII.)
_HEADER_VALUE_RE = re.compile(r'^(?:[\x21-\x7e]+|"[\x20-\x7e]*")$')
# RFC 6265 cookie-octet: no space, DQUOTE, comma, semicolon or backslash.
_COOKIE_SAFE_RE = re.compile(r"^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+$")
_URL_CHARS_RE = re.compile(r"^[\x21-\x7e]+$")  # printable, no spaces


@dataclass
class RuleFields:
    type: str
    compare_type: str
    key: str | None
    value: str


def check_rule(rule: RuleFields, path: str = "") -> None:
    """Raise InvalidField unless the rule's type, compare type, key and value fit."""
    def bad(field: str, value: Any, reason: str) -> errors.InvalidField:
        return errors.InvalidField(f"{path}{field}", value, reason)

    value, key = rule.value, rule.key
    if "\r" in value or "\n" in value:
        raise bad("value", value, "The value must not contain CR or LF characters.")
    if rule.type == "FILE_TYPE" and rule.compare_type not in ("REGEX", "EQUAL_TO"):
        raise bad("compare_type", rule.compare_type,
                  "FILE_TYPE rules accept only the REGEX and EQUAL_TO compare types.")
    if rule.type in ("SSL_CONN_HAS_CERT", "SSL_VERIFY_RESULT"):
        if key is not None:
            raise bad("key", key, f"{rule.type} rules take no key.")
        if rule.compare_type != "EQUAL_TO":
            raise bad("compare_type", rule.compare_type,
                      f"{rule.type} rules accept only the EQUAL_TO compare type.")
        if rule.type == "SSL_CONN_HAS_CERT" and value != "true":
            raise bad("value", value, "SSL_CONN_HAS_CERT rules take the value 'true'.")
        if rule.type == "SSL_VERIFY_RESULT" and not value.isdigit():
            raise bad("value", value,
                      "SSL_VERIFY_RESULT rules take a non-negative integer value.")
        return
    if rule.type in ("HEADER", "COOKIE"):
        if key is None:
            raise bad("key", None, f"{rule.type} rules require a key.")
        if not _TOKEN_RE.match(key):
            raise bad("key", key, f"The key of a {rule.type} rule must be an HTTP token "
                                  f"(letters, digits and !%&*+.^_`|~-).")
    if rule.type == "SSL_DN_FIELD":
        if key is None:
            raise bad("key", None, "SSL_DN_FIELD rules require a key.")
        if not _DN_FIELD_RE.match(key):
            raise bad("key", key, "The key of an SSL_DN_FIELD rule must be a DN field "
                                  "name (a letter, then letters, digits or '-').")
    if rule.compare_type == "REGEX":
        try:
            re.compile(value)
        except re.error as exc:
            raise bad("value", value, f"The value is not a valid regular expression: {exc}.")
        if not _HEADER_SAFE_RE.match(value):
            raise bad("value", value, "The value must be printable ASCII.")
        return
    if rule.type == "COOKIE":
        if not _COOKIE_SAFE_RE.match(value):
            raise bad("value", value, "The value is not a valid cookie value (no spaces, "
                                      "quotes, commas, semicolons or backslashes).")
    elif not _HEADER_VALUE_RE.match(value):
        raise errors.BadRequest("Error parsing L7Rule: Invalid characters in comparison value")


def check_redirect_url(field: str, value: str) -> str:
    """An absolute http(s) URL with a host, without spaces or control characters."""
    if not _URL_CHARS_RE.match(value):
        raise errors.InvalidField(field, value, "The URL must be printable ASCII "
                                                "without spaces.")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise errors.InvalidField(field, value, "The URL must be an http or https URL "
                                                "with a host.")
    return value


@dataclass
class PolicyAction:
    action: str
    redirect_pool_id: str | None
    redirect_url: str | None
    redirect_prefix: str | None
    redirect_http_code: int | None


def resolve_action(given: dict[str, Any], current: PolicyAction | None = None,
                   pool_given: bool = False) -> PolicyAction:
    """The action and redirect fields a policy ends up with.

    `given` holds the fields present in the request (None = explicit null); `current`
    the stored policy on PUT. An explicit action wins; otherwise a redirect field
    infers (or on PUT overrides) the action. Fields the action does not use are
    nulled. `pool_given` says a graph create named a redirect_pool."""
    pool = given.get("redirect_pool_id")
    has_pool = pool is not None or pool_given
    url, prefix = given.get("redirect_url"), given.get("redirect_prefix")
    if has_pool and (url is not None or prefix is not None):
        raise errors.InvalidField("redirect_pool_id", pool, "A redirect pool cannot be given "
                                  "together with redirect_url or redirect_prefix.")
    if url is not None and prefix is not None:
        raise errors.InvalidField("redirect_url", url, "redirect_url and redirect_prefix "
                                  "cannot be given together.")
    action = given.get("action")
    if action is None:
        if has_pool:
            action = REDIRECT_TO_POOL
        elif url is not None:
            action = REDIRECT_TO_URL
        elif prefix is not None:
            action = REDIRECT_PREFIX
        elif current is not None:
            action = current.action
        else:
            raise errors.InvalidField("action", None, "Mandatory field missing.")

    def merged(field: str) -> Any:
        if field in given:
            return given[field]
        # On PUT, keep the stored value only when the action stays the same.
        if current is not None and current.action == action:
            return getattr(current, field)
        return None

    out = PolicyAction(action, None, None, None, None)
    if action == REDIRECT_TO_POOL:
        out.redirect_pool_id = merged("redirect_pool_id")
        if out.redirect_pool_id is None and not pool_given:
            raise errors.InvalidField("redirect_pool_id", None,
                                      "REDIRECT_TO_POOL policies require a redirect pool.")
    elif action in (REDIRECT_TO_URL, REDIRECT_PREFIX):
        field = "redirect_url" if action == REDIRECT_TO_URL else "redirect_prefix"
        target = merged(field)
        if target is None:
            raise errors.InvalidField(field, None, f"{action} policies require {field}.")
        setattr(out, field, check_redirect_url(field, target))
        code = merged("redirect_http_code")
        out.redirect_http_code = DEFAULT_REDIRECT_CODE if code is None else code
    return out
