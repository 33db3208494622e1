"""The policy engine: the oslo.policy rule language, Octavia's defaults, file overrides."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from portus.api import policy as p
from portus.api.deps import Caller
from portus.api import errors


def creds(project: str | None = "p1", roles: tuple[str, ...] = (), is_admin: bool = False,
          user: str | None = "u1") -> dict[str, Any]:
    return p.credentials(project, user, roles, is_admin)


def ok(rule: str, target: dict[str, Any] | None = None, **kwargs: Any) -> bool:
    return p.Policy({"r": rule}).check("r", target or {}, creds(**kwargs))


# --- the language ---------------------------------------------------------------

@pytest.mark.parametrize("rule, expected", [
    ("", True), ("@", True), ("!", False),
    ("role:member", True), ("role:MEMBER", True), ("role:admin", False),
    ("not role:admin", True), ("not not role:admin", False),
    ("role:member and role:admin", False), ("role:member or role:admin", True),
    ("role:admin or role:member and role:reader", True),  # and binds tighter than or
    ("(role:admin or role:member) and role:reader", True),
    ("(role:admin or role:member) and role:nope", False),
    ("role:member AND (role:x OR (not role:y))", True),
    ("((role:member))", True),
    ("not (role:member or role:reader)", False),
    ("project_id:%(project_id)s", True),
    ("project_id:%(project_id)s and role:member", True),
    ("(project_id:%(project_id)s)", True),
    ("user_id:%(user_id)s", False),  # the target has no user_id
    ("project_id:p1", True), ("project_id:'p1'", True), ("project_id:p2", False),
    ("'p1':%(project_id)s", True), ("'p2':%(project_id)s", False),
    ("is_admin:True", False), ("is_admin:False", True),
    ("roles:member", True),  # a generic check against a list credential
    ("tenant:%(project_id)s", True),
])
def test_language(rule: str, expected: bool) -> None:
    assert ok(rule, {"project_id": "p1"}, roles=("member", "reader")) is expected


def test_is_admin_credential() -> None:
    assert ok("is_admin:True", is_admin=True)
    assert not ok("is_admin:True", is_admin=False)


def test_target_without_project_matches_no_owner_rule() -> None:
    assert not ok("project_id:%(project_id)s", {"project_id": None})
    assert not ok("project_id:%(project_id)s", {}, project=None)


def test_rule_references_resolve_in_any_order() -> None:
    pol = p.Policy({"a": "rule:b or role:x", "b": "role:member"})
    assert pol.check("a", {}, creds(roles=("member",)))
    assert not pol.check("a", {}, creds(roles=("reader",)))


@pytest.mark.parametrize("rules, fragment", [
    ({"a": "rule:missing"}, "undefined rule(s): missing"),
    ({"a": "role:x and"}, "unexpected end"),
    ({"a": "(role:x"}, "missing ')'"),
    ({"a": "role:x)"}, "unexpected ')'"),
    ({"a": "role:x role:y"}, "unexpected 'role:y'"),
    ({"a": "or role:x"}, "unexpected 'or'"),
    ({"a": "admin"}, "is not a check"),
    ({"a": "http://example.com/check"}, "not supported"),
    ({"a": "rule:b", "b": "rule:a"}, "loop"),
    ({"a": "rule:a"}, "loop"),
])
def test_bad_rules_are_refused_at_start(rules: dict[str, str], fragment: str) -> None:
    with pytest.raises(p.PolicyError) as info:
        p.Policy(rules)
    assert fragment in str(info.value)


def test_unknown_rule_at_request_time_is_a_programming_error() -> None:
    with pytest.raises(p.UnknownRule):
        p.Policy.load().allowed("loadbalancer:frobnicate", "p1", creds())


# --- Octavia's defaults -----------------------------------------------------------

ROLE_CASES = {
    # persona: (roles, read own, read other, write own, write other, quota write, admin)
    "member": (("member",), True, False, True, False, False, False),
    "reader": (("reader",), True, False, False, False, False, False),
    "admin": (("admin",), True, True, True, True, True, True),
    "nobody": (("foo",), False, False, False, False, False, False),
    "lb_observer": (("load-balancer_observer",), True, False, False, False, False, False),
    "lb_global_observer": (("load-balancer_global_observer",), True, True, False, False,
                           False, False),
    "lb_member": (("load-balancer_member",), True, False, True, False, False, False),
    "lb_quota_admin": (("load-balancer_quota_admin",), False, False, False, False, True,
                       False),
    "lb_admin": (("load-balancer_admin",), True, True, True, True, True, True),
}


@pytest.mark.parametrize("persona", sorted(ROLE_CASES))
def test_default_roles(persona: str) -> None:
    roles, read_own, read_other, write_own, write_other, quota_write, admin = ROLE_CASES[persona]
    pol = p.Policy.load()
    c = creds(roles=roles)
    assert pol.allowed("loadbalancer:get_one", "p1", c) is read_own
    assert pol.allowed("pool:get_all", "p2", c) is read_other
    assert pol.allowed("loadbalancer:get_all-global", None, c) is read_other
    assert pol.allowed("listener:post", "p1", c) is write_own
    assert pol.allowed("member:delete", "p2", c) is write_other
    assert pol.allowed("quota:put", "p2", c) is quota_write
    assert pol.allowed("amphora:get_all", None, c) is admin
    assert pol.allowed("flavor:post", None, c) is admin
    assert pol.allowed("loadbalancer:put_failover", "p1", c) is admin
    assert pol.check("context_is_admin", {}, c) is admin


def test_quota_admin_reads_every_quota() -> None:
    pol = p.Policy.load()
    c = creds(roles=("load-balancer_quota_admin",))
    assert pol.allowed("quota:get_all-global", None, c)
    assert pol.allowed("quota:get_one", "p2", c)
    assert not pol.allowed("loadbalancer:get_one", "p2", c)


def test_service_role_lists_members_only() -> None:
    pol = p.Policy.load()
    c = creds(project="svc", roles=("service",))
    assert pol.allowed("member:get_all", "p1", c)
    assert not pol.allowed("member:get_one", "p1", c)
    assert not pol.allowed("pool:get_all", "p1", c)


def test_flavors_and_providers_are_readable_by_readers() -> None:
    pol = p.Policy.load()
    c = creds(roles=("reader",))
    for rule in ("flavor:get_all", "flavor:get_one", "availability-zone:get_all",
                 "provider:get_all"):
        assert pol.allowed(rule, "p1", c), rule
    for rule in ("flavor-profile:get_all", "availability-zone-profile:get_one",
                 "provider-flavor:get_all", "provider-availability-zone:get_all",
                 "amphora:put_config"):
        assert not pol.allowed(rule, "p1", c), rule


def test_noauth_is_admin_passes_everything() -> None:
    pol = p.Policy.load()
    c = creds(project=None, is_admin=True)
    for name in pol.names():
        if name.startswith(p.PREFIX):
            assert pol.check(name, {"project_id": "p9"}, c), name


def test_every_object_has_octavia_actions() -> None:
    names = set(p.default_rules())
    for obj in ("loadbalancer", "listener", "pool", "healthmonitor", "l7policy"):
        for action in ("get_all", "get_all-global", "get_one", "post", "put", "delete"):
            assert f"{p.PREFIX}{obj}:{action}" in names
    for extra in ("loadbalancer:get_stats", "loadbalancer:get_status", "listener:get_stats",
                  "quota:get_defaults", "amphora:put_config", "amphora:put_failover",
                  "loadbalancer:post:vip_sg_ids"):
        assert p.PREFIX + extra in names


# --- overrides from a file ------------------------------------------------------

def test_yaml_override_replaces_a_rule_and_drops_its_deprecated_alternative(
        tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text('"load-balancer:member_and_owner": "role:member and '
                    'project_id:%(project_id)s"\n'
                    '"os_load-balancer_api:loadbalancer:delete": "rule:load-balancer:admin"\n'
                    '# a comment\n"my-alias": "role:ops"\n')
    pol = p.Policy.load(str(path))
    member = creds(roles=("member",))
    assert pol.allowed("loadbalancer:post", "p1", member)
    assert not pol.allowed("loadbalancer:delete", "p1", member)
    # Without the deprecated alternative, load-balancer_member no longer writes.
    assert not pol.allowed("loadbalancer:post", "p1", creds(roles=("load-balancer_member",)))
    # ...and without an override it still does.
    assert p.Policy.load().allowed("loadbalancer:post", "p1",
                                   creds(roles=("load-balancer_member",)))


def test_json_override(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"os_load-balancer_api:pool:get_one": "!"}))
    pol = p.Policy.load(str(path))
    assert not pol.allowed("pool:get_one", "p1", creds(is_admin=True))


@pytest.mark.parametrize("text, fragment", [
    ('"os_load-balancer_api:pool:get_one": "rule:nope"\n', "undefined rule(s): nope"),
    ("- a\n- b\n", "expected a mapping"),
    ('"x": 3\n', "must be a string"),
    ('"x": [unclosed\n', "policy file"),
])
def test_bad_policy_file(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(p.PolicyError) as info:
        p.Policy.load(str(path))
    assert fragment in str(info.value)


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(p.PolicyError, match="cannot read policy file"):
        p.Policy.load(str(tmp_path / "absent.yaml"))


# --- the Caller -----------------------------------------------------------------

def test_caller_list_scope() -> None:
    pol = p.Policy.load()

    class Query:
        def __init__(self, **values: list[str]) -> None:
            self.values = values

        def getlist(self, key: str) -> list[str]:
            return self.values.get(key, [])

    member = Caller("p1", False, ("member",), policy=pol)
    assert member.list_scope("loadbalancer", Query()) == "p1"
    assert member.list_scope("loadbalancer", Query(project_id=["p1"])) == "p1"
    with pytest.raises(errors.Forbidden):
        member.list_scope("loadbalancer", Query(project_id=["p2"]))
    with pytest.raises(errors.Forbidden):
        member.list_scope("loadbalancer", Query(project_id=["p1", "p2"]))
    observer = Caller("p1", False, ("load-balancer_global_observer",), policy=pol)
    assert observer.list_scope("pool", Query(project_id=["p2"])) is None
    nobody = Caller("p1", False, ("foo",), policy=pol)
    with pytest.raises(errors.Forbidden):
        nobody.list_scope("pool", Query())
    with pytest.raises(errors.Forbidden):
        Caller(None, False, ("member",), policy=pol).list_scope("pool", Query())

