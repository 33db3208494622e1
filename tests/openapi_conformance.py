"""Real responses against the published OpenAPI document (/v2/openapi.json).

`Conformance(doc).check(...)` fails (AssertionError) when a response's code is not
documented for its operation, or when its body does not match the documented schema,
read strictly: an object may carry no attribute the document does not name. Since the
response models make every attribute required, this proves each view and its model
list the same attributes. Every request of the functional tests (tests/functional/
conftest.py: Api) and of tests/clients/test_openapi.py goes through it.
"""
from __future__ import annotations

import copy
import json
import re
from typing import Any

import jsonschema_rs

from portus.api import app as app_module


def _strict(schema: Any) -> Any:
    """The schema with `additionalProperties: false` on every object that lists its
    properties (the published document leaves objects open, for newer API versions)."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if "properties" in out and not isinstance(out.get("additionalProperties"), dict):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def _aliases() -> list[tuple[str, str]]:
    """(alias prefix, documented prefix): a router is served under several prefixes and
    documented under the first (portus.api.app.ROUTERS)."""
    pairs = {(alias, prefixes[0]) for _router, prefixes in app_module.ROUTERS
             for alias in prefixes[1:]}
    return sorted(pairs, key=lambda pair: -len(pair[0])) + [("/v2.0", "/v2")]


class Conformance:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.components = _strict(doc.get("components", {}))
        # The most literal template first (/quotas/defaults before /quotas/{project_id}).
        templates = sorted(doc["paths"], key=lambda t: (t.count("{"), -len(t)))
        self.routes = [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", t) + "$"), t)
                       for t in templates]
        self.aliases = _aliases()
        self._validators: dict[tuple[str, str, str], Any] = {}
        self.checked: set[tuple[str, str, str]] = set()  # (method, template, code)

    def template(self, path: str) -> str | None:
        """The documented path template a request path reaches, if any."""
        candidates = [path] + [canonical + path[len(alias):] for alias, canonical in self.aliases
                               if path == alias or path.startswith(alias + "/")]
        for candidate in candidates:
            for regex, template in self.routes:
                if regex.match(candidate):
                    return template
        return None

    def check(self, method: str, path: str, status: int, content: bytes) -> bool:
        """Checks one response; False if the request reached no documented operation
        (an unknown path or method: the router's own 404/405)."""
        method = method.lower()
        template = self.template(path)
        if template is None or method not in self.doc["paths"][template]:
            return False
        responses = self.doc["paths"][template][method]["responses"]
        code = str(status)
        assert code in responses, (f"{method.upper()} {template} answered {status}, which the "
                                   f"document does not list ({', '.join(responses)}): "
                                   f"{content[:300]!r}")
        documented = responses[code].get("content", {})
        schema = documented.get("application/json", {}).get("schema")
        if schema is None:
            # A body that is not JSON (a secret's payload) is a string: any bytes.
            assert not content or documented, \
                f"{method.upper()} {template} {code}: undocumented body {content[:300]!r}"
        else:
            body = json.loads(content)
            errors = [f"{e.instance_path}: {e.message}"
                      for e in self._validator(method, template, code, schema).iter_errors(body)]
            assert not errors, (f"{method.upper()} {path} {code} does not match the document: "
                                f"{errors[:3]}; body: {json.dumps(body)[:600]}")
        self.checked.add((method, template, code))
        return True

    def _validator(self, method: str, template: str, code: str, schema: dict[str, Any]) -> Any:
        key = (method, template, code)
        if key not in self._validators:
            full = {**_strict(copy.deepcopy(schema)), "components": self.components}
            self._validators[key] = jsonschema_rs.Draft202012Validator(full)
        return self._validators[key]
