"""Policy: the oslo.policy rule language, Octavia's default rules, overrides from a file.

A rule is a check string such as ``role:member and project_id:%(project_id)s``.
Supported:

- ``@`` (always), ``!`` (never), and the empty string (always);
- ``role:NAME`` (case-insensitive, against the caller's roles);
- ``rule:NAME`` (another rule);
- generic checks ``KEY:VALUE``: the credential KEY (``project_id``, ``user_id``,
  ``is_admin``, ``roles``...) equals VALUE, where VALUE may interpolate the target
  (``%(project_id)s``) or be a literal (``'abc'``, ``True``); a quoted or boolean
  literal on the left is compared with the interpolated right side instead;
- ``not``, ``and``, ``or`` (in that order of precedence) and parentheses.

Every rule is compiled once into a closure; evaluating one is a few function calls.
The rule names are Octavia's (``os_load-balancer_api:<object>:<action>`` and the
``load-balancer:*`` aliases), so an Octavia policy file works unchanged.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import yaml

PREFIX = "os_load-balancer_api:"

Target = Mapping[str, Any]
Credentials = Mapping[str, Any]
Check = Callable[[Target, Credentials], bool]


class PolicyError(ValueError):
    """A policy file or rule that cannot be used; raised at start-up."""


class UnknownRule(LookupError):
    """Code asked about a rule nobody defined: a programming error, not a denial."""


# --- Octavia's defaults -------------------------------------------------------------

# Aliases. Octavia moved to keystone's default roles (reader, member, admin) in Wallaby
# and still honours the older load-balancer_* roles through deprecated rules: until an
# operator overrides such a rule, the old check string is ORed with the new one.
_ALIASES: dict[str, str] = {
    "context_is_admin": "role:admin",
    "load-balancer:owner": "project_id:%(project_id)s",
    "project-member": "role:member and project_id:%(project_id)s",
    "project-reader": "role:reader and project_id:%(project_id)s",
    "service": "role:service",
    # is_admin is true for noauth callers and for callers that pass context_is_admin.
    "load-balancer:admin": "is_admin:True or role:admin",
    "load-balancer:global_observer": "role:admin",
    "load-balancer:member_and_owner": "rule:project-member",
    "load-balancer:observer_and_owner": "rule:project-reader",
    "load-balancer:quota-admin": "role:admin",
    "load-balancer:read": "rule:load-balancer:observer_and_owner or "
                          "rule:load-balancer:global_observer or "
                          "rule:load-balancer:member_and_owner or rule:load-balancer:admin",
    "load-balancer:read-global": "rule:load-balancer:global_observer or "
                                 "rule:load-balancer:admin",
    "load-balancer:write": "rule:load-balancer:member_and_owner or rule:load-balancer:admin",
    "load-balancer:read-quota": "rule:load-balancer:observer_and_owner or "
                                "rule:load-balancer:global_observer or "
                                "rule:load-balancer:member_and_owner or "
                                "rule:load-balancer:quota-admin or rule:load-balancer:admin",
    "load-balancer:read-quota-global": "rule:load-balancer:global_observer or "
                                       "rule:load-balancer:quota-admin or "
                                       "rule:load-balancer:admin",
    "load-balancer:write-quota": "rule:load-balancer:quota-admin or rule:load-balancer:admin",
}

DEPRECATED: dict[str, str] = {
    "context_is_admin": "role:admin or role:load-balancer_admin",
    "load-balancer:admin": "is_admin:True or role:admin or role:load-balancer_admin",
    "load-balancer:global_observer": "role:load-balancer_global_observer",
    "load-balancer:member_and_owner": "role:load-balancer_member and rule:load-balancer:owner",
    "load-balancer:observer_and_owner": "role:load-balancer_observer and "
                                        "rule:load-balancer:owner",
    "load-balancer:quota-admin": "role:load-balancer_quota_admin",
}

_READ, _READ_GLOBAL, _WRITE, _ADMIN = ("rule:load-balancer:read", "rule:load-balancer:read-global",
                                       "rule:load-balancer:write", "rule:load-balancer:admin")
_CRUD = {"get_all": _READ, "get_all-global": _READ_GLOBAL, "post": _WRITE, "get_one": _READ,
         "put": _WRITE, "delete": _WRITE}
_READ_ONLY_ADMIN_WRITES = {"get_all": _READ, "get_one": _READ, "post": _ADMIN, "put": _ADMIN,
                           "delete": _ADMIN}
_ALL_ADMIN = dict.fromkeys(("get_all", "get_one", "post", "put", "delete"), _ADMIN)

# Object -> action -> check string, as Octavia's octavia/policies/*.py.
API_RULES: dict[str, dict[str, str]] = {
    "loadbalancer": {**_CRUD, "get_stats": _READ, "get_status": _READ, "put_failover": _ADMIN,
                     "post:vip_sg_ids": _WRITE, "put:vip_sg_ids": _WRITE},
    "listener": {**_CRUD, "get_stats": _READ},
    "pool": dict(_CRUD),
    # Members may also be listed by a service user (e.g. a cloud's controllers).
    "member": {**_CRUD, "get_all": f"{_READ} or rule:service"},
    "healthmonitor": dict(_CRUD),
    "l7policy": dict(_CRUD),
    "l7rule": dict(_CRUD),
    "quota": {"get_all": "rule:load-balancer:read-quota",
              "get_all-global": "rule:load-balancer:read-quota-global",
              "get_one": "rule:load-balancer:read-quota",
              "put": "rule:load-balancer:write-quota",
              "delete": "rule:load-balancer:write-quota",
              "get_defaults": "rule:load-balancer:read-quota"},
    "provider": {"get_all": _READ},
    "provider-flavor": {"get_all": _ADMIN},
    "provider-availability-zone": {"get_all": _ADMIN},
    "flavor": dict(_READ_ONLY_ADMIN_WRITES),
    "flavor-profile": dict(_ALL_ADMIN),
    "availability-zone": dict(_READ_ONLY_ADMIN_WRITES),
    "availability-zone-profile": dict(_ALL_ADMIN),
    # portus's own: the Barbican-compatible secret store behind *_container_ref.
    "secret": {k: v for k, v in _CRUD.items() if k != "put"},
    "amphora": {"get_all": _ADMIN, "get_one": _ADMIN, "delete": _ADMIN, "put_failover": _ADMIN,
                "put_config": _ADMIN, "get_stats": _ADMIN},
}


def default_rules() -> dict[str, str]:
    """Every built-in rule name and its check string (deprecated alternatives included)."""
    rules = {name: _with_deprecated(name, check) for name, check in _ALIASES.items()}
    for obj, actions in API_RULES.items():
        for action, check in actions.items():
            rules[f"{PREFIX}{obj}:{action}"] = check
    return rules


def _with_deprecated(name: str, check: str) -> str:
    old = DEPRECATED.get(name)
    return f"({check}) or ({old})" if old else check


# --- the rule language ----------------------------------------------------------------

_INTERPOLATION = re.compile(r"%\(([^)]+)\)s")


def _always(_t: Target, _c: Credentials) -> bool:
    return True


def _never(_t: Target, _c: Credentials) -> bool:
    return False


def _tokens(text: str) -> list[str]:
    # Parentheses may touch a check ("(role:a"); a check's own "%(x)s" keeps its brackets.
    out: list[str] = []
    for word in text.split():
        lead = len(word) - len(word.lstrip("("))
        out.extend("(" * lead)
        word = word[lead:]
        trail = 0
        while word.endswith(")") and word.count("(") < word.count(")"):
            word, trail = word[:-1], trail + 1
        if word:
            out.append(word)
        out.extend(")" * trail)
    return out


class _Parser:
    """Recursive descent: or_expr := and_expr (or and_expr)*; and_expr := not_expr (and
    not_expr)*; not_expr := not not_expr | '(' or_expr ')' | check."""

    def __init__(self, text: str, rules: dict[str, Check], refs: set[str]) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.text = text
        self.rules = rules
        self.refs = refs

    def parse(self) -> Check:
        if not self.tokens:
            return _always
        check = self._or()
        if self.pos != len(self.tokens):
            raise PolicyError(f"unexpected {self.tokens[self.pos]!r} in {self.text!r}")
        return check

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _keyword(self, word: str) -> bool:
        token = self._peek()
        if token is not None and token.lower() == word:
            self.pos += 1
            return True
        return False

    def _or(self) -> Check:
        parts = [self._and()]
        while self._keyword("or"):
            parts.append(self._and())
        if len(parts) == 1:
            return parts[0]
        alternatives = tuple(parts)
        return lambda t, c: any(p(t, c) for p in alternatives)

    def _and(self) -> Check:
        parts = [self._not()]
        while self._keyword("and"):
            parts.append(self._not())
        if len(parts) == 1:
            return parts[0]
        required = tuple(parts)
        return lambda t, c: all(p(t, c) for p in required)

    def _not(self) -> Check:
        if self._keyword("not"):
            inner = self._not()
            return lambda t, c: not inner(t, c)
        token = self._peek()
        if token is None:
            raise PolicyError(f"unexpected end of rule {self.text!r}")
        self.pos += 1
        if token == "(":
            inner = self._or()
            if self._peek() != ")":
                raise PolicyError(f"missing ')' in {self.text!r}")
            self.pos += 1
            return inner
        if token == ")" or token.lower() in ("and", "or"):
            raise PolicyError(f"unexpected {token!r} in {self.text!r}")
        return self._check(token)

    def _check(self, token: str) -> Check:
        if token == "@":
            return _always
        if token == "!":
            return _never
        kind, sep, match = token.partition(":")
        if not sep or not kind:
            raise PolicyError(f"{token!r} in {self.text!r} is not a check (KIND:VALUE)")
        if kind == "rule":
            self.refs.add(match)
            rules = self.rules  # filled in later: rules may refer to rules defined after them
            return lambda t, c: rules[match](t, c)
        if kind == "role":
            role = match.lower()
            return lambda _t, c: role in c.get("roles", ())
        if kind in ("http", "https"):
            raise PolicyError(f"remote checks ({kind}:) are not supported: {self.text!r}")
        return _generic(kind, match)


def _literal(text: str) -> str | None:
    """The value of a quoted or boolean literal, else None."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text in ("True", "False"):
        return text
    return None


def _as_text(value: Any) -> str:
    return str(value)  # True -> "True", as the literals are written


def _generic(left: str, right: str) -> Check:
    keys = _INTERPOLATION.findall(right)
    if keys:
        def value_of(target: Target) -> str | None:
            values = {}
            for key in keys:
                value = target.get(key)
                if value is None:
                    return None  # a target without the attribute matches nothing
                values[key] = value
            return _INTERPOLATION.sub(lambda m: _as_text(values[m.group(1)]), right)
    else:
        constant = _literal(right)
        fixed = right if constant is None else constant

        def value_of(target: Target) -> str | None:
            return fixed

    left_literal = _literal(left)
    if left_literal is not None:
        return lambda t, _c: value_of(t) == left_literal

    def check(target: Target, creds: Credentials) -> bool:
        expected = value_of(target)
        have = creds.get(left)
        if expected is None or have is None:
            return False
        if isinstance(have, (list, tuple, set, frozenset)):
            return any(_as_text(v) == expected for v in have)
        return _as_text(have) == expected

    return check


# --- the enforcer -----------------------------------------------------------------------

class Policy:
    """Compiled rules. Build with `Policy.load(path)`; ask with `check`/`allowed`."""

    def __init__(self, check_strings: Mapping[str, str]) -> None:
        self.check_strings = dict(check_strings)
        self._rules: dict[str, Check] = {}
        refs: dict[str, set[str]] = {}
        for name, text in self.check_strings.items():
            if not isinstance(text, str):
                raise PolicyError(f"rule {name!r}: the check must be a string")
            refs[name] = set()
            try:
                self._rules[name] = _Parser(text, self._rules, refs[name]).parse()
            except PolicyError as exc:
                raise PolicyError(f"rule {name!r}: {exc}") from None
        for name, used in refs.items():
            missing = sorted(used - self._rules.keys())
            if missing:
                raise PolicyError(f"rule {name!r} refers to undefined rule(s): "
                                  f"{', '.join(missing)}")
        _check_cycles(refs)

    @classmethod
    def load(cls, path: str = "") -> "Policy":
        """The defaults, overridden rule by rule by the file at `path` (YAML or JSON in
        oslo.policy's format) when given. An overridden rule loses its deprecated
        alternative, as in oslo.policy."""
        rules = default_rules()
        if path:
            rules.update(read_file(path))
        return cls(rules)

    def check(self, name: str, target: Target, creds: Credentials) -> bool:
        try:
            rule = self._rules[name]
        except KeyError:
            raise UnknownRule(f"no policy rule {name!r}") from None
        return rule(target, creds)

    def allowed(self, action: str, project_id: str | None, creds: Credentials) -> bool:
        """`action` without the API prefix, e.g. "loadbalancer:get_one"."""
        return self.check(PREFIX + action, {"project_id": project_id}, creds)

    def names(self) -> Iterable[str]:
        return self._rules.keys()


def read_file(path: str) -> dict[str, str]:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise PolicyError(f"policy file {path}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PolicyError(f"policy file {path}: expected a mapping of rule name to check")
    for name, check in data.items():
        if not isinstance(check, str):
            raise PolicyError(f"policy file {path}: rule {name!r}: the check must be a string")
    return {str(k): v for k, v in data.items()}


def _check_cycles(refs: Mapping[str, set[str]]) -> None:
    # A rule that reaches itself would recurse forever at request time; refuse it now.
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            loop = " -> ".join(path[path.index(name):] + [name])
            raise PolicyError(f"rules refer to each other in a loop: {loop}")
        if name in done:
            return
        for ref in refs.get(name, ()):
            visit(ref, path + [name])
        done.add(name)

    for name in refs:
        visit(name, [])


def credentials(project_id: str | None, user_id: str | None, roles: Iterable[str],
                is_admin: bool) -> dict[str, Any]:
    return {"project_id": project_id, "tenant": project_id, "user_id": user_id,
            "roles": frozenset(r.lower() for r in roles), "is_admin": is_admin}
