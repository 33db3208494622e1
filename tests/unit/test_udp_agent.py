"""The agent's UDP/SCTP data plane without a kernel: checks, rise/fall, heartbeat words."""
from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from portus.amphora import udp


def test_rise_and_fall_count_like_haproxy() -> None:
    member = udp.Member(rise=2, fall=3)
    assert member.up
    assert [member.record(False) for _ in range(3)] == [False, False, True] and not member.up
    assert [member.record(True) for _ in range(2)] == [False, True] and member.up
    # A success breaks a run of failures.
    assert [member.record(ok) for ok in (False, False, True, False, False)] == [False] * 5
    assert member.up


def test_udp_check_sees_a_closed_port_and_an_open_one() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    assert udp.check_udp("127.0.0.1", port, 0.5) is False  # ICMP port unreachable
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        assert udp.check_udp("127.0.0.1", silent.getsockname()[1], 0.2) is True


def test_http_check_compares_the_status_code() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        monitor = {"http_method": "GET", "url_path": "/", "expected_codes": [204]}
        import threading

        def answer(status: bytes) -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.0 " + status + b"\r\n\r\n")
        for status, expected in ((b"204 No Content", True), (b"200 OK", False)):
            t = threading.Thread(target=answer, args=(status,))
            t.start()
            assert udp.check_http("127.0.0.1", port, 2.0, monitor) is expected
            t.join()


def no_nft(argv: list[str], timeout: float) -> tuple[int, str]:
    raise FileNotFoundError("nft")


def doc(monitor: dict[str, Any] | None) -> dict[str, Any]:
    return {"listeners": [{"id": "l1", "protocol": "UDP", "port": 53, "vips": ["192.0.2.1"],
                           "pool": {"id": "p1", "algorithm": "ROUND_ROBIN", "persistence": None,
                                    "monitor": monitor, "members": [
                                        {"id": "a", "address": "192.0.2.10", "port": 53,
                                         "weight": 1, "backup": False, "enabled": True},
                                        {"id": "b", "address": "192.0.2.11", "port": 53,
                                         "weight": 1, "backup": False, "enabled": False}]}}]}


def test_without_udp_listeners_nft_is_never_run(tmp_path: Path) -> None:
    plane = udp.Dataplane(str(tmp_path), no_nft, lambda _m: None)
    assert plane.put(3, b'{"listeners": []}') == (200, {"generation": 3, "action": "unchanged"})
    listeners: dict[str, Any] = {}
    pools: dict[str, Any] = {}
    plane.report(listeners, pools)
    assert listeners == {} and pools == {}
    assert json.loads((tmp_path / "udp.json").read_text())["generation"] == 3


def test_missing_nft_is_a_500_and_keeps_the_old_state(tmp_path: Path) -> None:
    plane = udp.Dataplane(str(tmp_path), no_nft, lambda _m: None)
    status, body = plane.put(1, json.dumps(doc(None)).encode())
    assert status == 500 and "cannot run nft" in body["error"]
    assert plane.doc == {"listeners": []} and plane.generation == 0
    assert plane.put(0, b"{}")[0] == 400  # not a document


@pytest.mark.parametrize("monitor, words", [
    (None, {"a": "no check", "b": "MAINT"}),
    ({"type": "UDP-CONNECT", "delay": 3600, "timeout": 1, "rise": 1, "fall": 1},
     {"a": "UP", "b": "MAINT"}),
])
def test_heartbeat_words(tmp_path: Path, monitor: dict[str, Any] | None,
                         words: dict[str, str]) -> None:
    calls: list[list[str]] = []

    def fake_nft(argv: list[str], timeout: float) -> tuple[int, str]:
        calls.append(argv)
        return 0, json.dumps({"nftables": [{"counter": {"name": "rx_l1", "packets": 2, "bytes": 60}},
                                           {"counter": {"name": "new_l1", "packets": 2, "bytes": 60}}]})
    plane = udp.Dataplane(str(tmp_path), fake_nft, lambda _m: None)
    plane.doc = doc(monitor)  # as if applied
    listeners: dict[str, Any] = {}
    pools: dict[str, Any] = {}
    plane.report(listeners, pools)
    assert listeners["l1"]["status"] == "OPEN"
    assert (listeners["l1"]["stats"]["rx"], listeners["l1"]["stats"]["totconns"]) == (60, 2)
    assert pools == {"p1:l1": {"status": "UP", "members": words}}


def test_sctp_check_without_kernel_sctp_is_down_not_an_error() -> None:
    # On a kernel with SCTP nothing listens there either: down both ways.
    assert udp.check_stream("127.0.0.1", 9, 0.5, socket.IPPROTO_SCTP) is False


@pytest.mark.parametrize("protocol, address, family", [
    ("UDP", "192.0.2.10", "ipv4"), ("SCTP", "2001:db8::a", "ipv6")])
def test_a_member_gone_down_loses_its_conntrack_entries(
        tmp_path: Path, protocol: str, address: str, family: str) -> None:
    calls: list[list[str]] = []
    logged: list[str] = []

    def fake_run(argv: list[str], timeout: float) -> tuple[int, str]:
        calls.append(argv)
        return (1, "0 flow entries have been deleted.") if argv[0] == "conntrack" else (0, "")
    plane = udp.Dataplane(str(tmp_path), fake_run, logged.append)
    plane.doc = doc(None)
    plane.doc["listeners"][0]["protocol"] = protocol
    plane._forget_flows("l1", {"id": "a", "address": address, "port": 53})
    assert calls == [["conntrack", "-D", "-f", family, "-p", protocol.lower(),
                      "--reply-src", address, "--reply-port-src", "53"]]
    assert logged == []  # nothing matched is not an error

    def no_conntrack(argv: list[str], timeout: float) -> tuple[int, str]:
        raise FileNotFoundError("conntrack")
    plane.run = no_conntrack
    plane._forget_flows("l1", {"id": "a", "address": address, "port": 53})
    assert logged and "could not delete the flows of member a" in logged[0]
