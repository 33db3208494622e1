"""Numbers and booleans sent as JSON strings, as Octavia (WSME) reads them."""
from __future__ import annotations

from tests.functional.conftest import Api, assert_fault


def test_integer_and_boolean_strings_are_stored_as_values(api: Api) -> None:
    lb = api.create_lb()
    listener = api.expect("POST", "/v2/lbaas/listeners", 201, {"listener": {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": "83",
        "admin_state_up": "true", "connection_limit": "100"}})["listener"]
    assert (listener["protocol_port"], listener["admin_state_up"],
            listener["connection_limit"]) == (83, True, 100)
    api.converge(lb["id"])
    pool = api.create_pool(listener_id=listener["id"], admin_state_up="yes")
    assert pool["admin_state_up"] is True
    member = api.create_member(pool["id"], protocol_port="8080", weight="5",
                               admin_state_up="false", backup=1)
    shown = api.show("member", member["id"], pool["id"])
    assert (shown["protocol_port"], shown["weight"], shown["admin_state_up"],
            shown["backup"]) == (8080, 5, False, True)
    hm = api.create_hm(pool["id"], delay="5", timeout="3", max_retries="2",
                       http_version="1.1")
    assert (hm["delay"], hm["timeout"], hm["max_retries"], hm["http_version"]) == (5, 3, 2, 1.1)
    updated = api.expect("PUT", f"/v2/lbaas/pools/{pool['id']}/members/{member['id']}", 200,
                         {"member": {"weight": "0", "admin_state_up": "on"}})["member"]
    assert (updated["weight"], updated["admin_state_up"]) == (0, True)


def test_other_strings_are_refused(api: Api) -> None:
    lb = api.create_lb()
    base = {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80}
    for field, value in (("protocol_port", "1.5"), ("protocol_port", 1.5),
                         ("protocol_port", "eighty"), ("protocol_port", ""),
                         ("protocol_port", True), ("admin_state_up", "True"),
                         ("admin_state_up", "maybe"), ("admin_state_up", 0.5)):
        assert_fault(api.post("/v2/lbaas/listeners", json={"listener": {**base, field: value}}),
                     400, field)
    assert_fault(api.post("/v2/lbaas/listeners", json={"listener": {
        **base, "protocol_port": "70000"}}), 400, "protocol_port")
