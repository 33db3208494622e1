"""The nftables renderer of UDP/SCTP listeners: documents, slots, and `nft -c` on the result."""
from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest

from portus.amphora import render_nft as r
from portus.amphora.spec import (HealthMonitorSpec, ListenerSpec, LoadBalancerSpec, MemberSpec,
                                 PoolSpec)

LID = "7f1c2d3e-0000-4000-8000-000000000001"
K = LID.replace("-", "")


def member(mid: str, address: str = "192.0.2.10", **kw: Any) -> MemberSpec:
    return MemberSpec(id=mid, address=address, port=5353, **kw)


def spec(*, protocol: str = "UDP", algorithm: str = "ROUND_ROBIN",
         members: tuple[MemberSpec, ...] = (member("a"), member("b", "192.0.2.11")),
         hm: HealthMonitorSpec | None = None, sp: dict[str, Any] | None = None,
         additional: tuple[str, ...] = (), vip: str = "203.0.113.5",
         extra: tuple[ListenerSpec, ...] = (), cidrs: tuple[str, ...] = ()) -> LoadBalancerSpec:
    pool = PoolSpec(id="p1", protocol=protocol, lb_algorithm=algorithm, members=members,
                    health_monitor=hm, session_persistence=sp)
    listeners = (ListenerSpec(id=LID, protocol=protocol, port=53, default_pool=pool,
                              allowed_cidrs=cidrs),) + extra
    return LoadBalancerSpec(id="lb1", project_id="p", vip_address=vip, generation=1,
                            listeners=listeners, additional_vips=additional)


def rules(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith("add rule")]


def elements(text: str, family: int = 4) -> str:
    return next((ln for ln in text.splitlines()
                 if ln.startswith(f"add element inet portus m{family}_")), "")


# --- the document ----------------------------------------------------------------------

def test_only_enabled_l4_listeners_are_in_the_document() -> None:
    tcp = ListenerSpec(id="l-tcp", protocol="TCP", port=53)
    off = ListenerSpec(id="l-off", protocol="UDP", port=54, enabled=False)
    doc = r.udp_config(spec(extra=(tcp, off)))
    assert [li["id"] for li in doc["listeners"]] == [LID]
    assert doc["listeners"][0]["vips"] == ["203.0.113.5"]


def test_http_monitor_codes_are_expanded() -> None:
    hm = HealthMonitorSpec(id="h", type="HTTP", delay=3, timeout=1, rise=2, fall=3,
                           url_path="/ok", expected_codes="200-202, 204")
    monitor = r.udp_config(spec(hm=hm))["listeners"][0]["pool"]["monitor"]
    assert monitor["expected_codes"] == [200, 201, 202, 204]
    assert (monitor["http_method"], monitor["url_path"], monitor["rise"]) == ("GET", "/ok", 2)


@pytest.mark.parametrize("bad", [
    {"id": "l1\nflush ruleset"}, {"port": 0}, {"port": "53"}, {"vips": ["203.0.113.5; x"]},
    {"vips": []}, {"protocol": "TCP"},
    {"pool": {"id": "p", "algorithm": "RANDOM", "members": []}},
    {"pool": {"id": "p", "algorithm": "ROUND_ROBIN", "members": [
        {"id": "m", "address": "192.0.2.1 . 1", "port": 1, "weight": 1, "enabled": True,
         "backup": False}]}},
    {"pool": {"id": "p", "algorithm": "ROUND_ROBIN", "members": [
        {"id": "m", "address": "192.0.2.1", "port": 1, "weight": 257, "enabled": True,
         "backup": False}]}},
    {"pool": {"id": "p", "algorithm": "SOURCE_IP", "members": [],
              "persistence": {"granularity": "255.255.255.0 }"}}},
    {"pool": {"id": "p", "algorithm": "ROUND_ROBIN", "members": [],
              "monitor": {"type": "HTTP", "delay": 1, "timeout": 1, "rise": 1, "fall": 1,
                          "http_method": "GET", "url_path": "/ x", "expected_codes": [200]}}},
])
def test_unsafe_documents_are_refused(bad: dict[str, Any]) -> None:
    doc = r.udp_config(spec())
    doc["listeners"][0].update(bad)
    with pytest.raises(r.NftConfigError):
        r.render_ruleset(doc, {})


# --- which members serve ---------------------------------------------------------------

def test_round_robin_repeats_members_by_weight() -> None:
    doc = r.udp_config(spec(members=(member("a", weight=3), member("b", "192.0.2.11", weight=1))))
    text = r.render_ruleset(doc, {})
    assert elements(text) == (f"add element inet portus m4_{K} {{ 0 : 192.0.2.10 . 5353, "
                              f"1 : 192.0.2.11 . 5353, 2 : 192.0.2.10 . 5353, "
                              f"3 : 192.0.2.10 . 5353 }}")
    assert f"dnat ip to numgen inc mod 4 map @m4_{K}" in rules(text)[0]


def test_down_disabled_and_zero_weight_members_get_no_slot() -> None:
    doc = r.udp_config(spec(members=(member("a"), member("b", "192.0.2.11"),
                                     member("c", "192.0.2.12", enabled=False),
                                     member("d", "192.0.2.13", weight=0))))
    text = r.render_ruleset(doc, {"a": False})
    assert elements(text).endswith("{ 0 : 192.0.2.11 . 5353 }")


def test_backups_serve_only_when_no_primary_is_up() -> None:
    doc = r.udp_config(spec(members=(member("a"), member("b", "192.0.2.11", backup=True))))
    assert "192.0.2.11" not in elements(r.render_ruleset(doc, {}))
    assert elements(r.render_ruleset(doc, {"a": False})).endswith("{ 0 : 192.0.2.11 . 5353 }")


def test_no_member_up_means_no_dnat_rule() -> None:
    text = r.render_ruleset(r.udp_config(spec()), {"a": False, "b": False})
    assert not any("dnat ip" in ln for ln in rules(text)) and elements(text) == ""
    assert f"flush map inet portus m4_{K}" in text


def test_source_ip_hashes_the_masked_source_with_a_persistence_timeout() -> None:
    doc = r.udp_config(spec(algorithm="SOURCE_IP", sp={
        "type": "SOURCE_IP", "persistence_timeout": 60, "persistence_granularity": "255.255.255.0"}))
    text = r.render_ruleset(doc, {})
    mark = r.marks(doc)[LID]
    assert (f"dnat ip to jhash ip saddr & 255.255.255.0 mod 2 seed 0x{mark:x} map @m4_{K}"
            in rules(text)[0])
    assert (f"add ct timeout inet portus to4_{K} {{ protocol udp; l3proto ip; "
            f"policy = {{ unreplied : 60, replied : 60 }}; }}") in text
    assert f'add rule inet portus raw ip daddr 203.0.113.5 udp dport 53 ct timeout set "to4_{K}"' in text


def test_sctp_matches_sctp_ports() -> None:
    text = r.render_ruleset(r.udp_config(spec(protocol="SCTP")), {})
    assert "ip daddr 203.0.113.5 sctp dport 53 ct mark set" in rules(text)[0]
    assert f"typeof numgen inc mod 2 : ip daddr . sctp dport" in text


def test_every_vip_gets_a_rule_in_its_family() -> None:
    doc = r.udp_config(spec(additional=("203.0.113.6", "2001:db8::5"),
                            members=(member("a"), member("b", "2001:db8::10"))))
    text = r.render_ruleset(doc, {})
    dnat = [ln for ln in rules(text) if "dnat ip" in ln]
    assert [ln.split(" daddr ")[1].split()[0] for ln in dnat] == [
        "203.0.113.5", "203.0.113.6", "2001:db8::5"]
    assert elements(text, 6).endswith("{ 0 : 2001:db8::10 . 5353 }")
    assert "dnat ip6 to numgen inc mod 1" in dnat[2]


def test_allowed_cidrs_drop_other_sources_before_nat() -> None:
    text = r.render_ruleset(r.udp_config(spec(cidrs=("192.0.2.0/24",),
                                              additional=("2001:db8::5",))), {})
    assert ("add rule inet portus raw ip daddr 203.0.113.5 udp dport 53 "
            "ip saddr != { 192.0.2.0/24 } drop") in rules(text)
    # No IPv6 source is allowed: the IPv6 VIP's port drops everything.
    assert "add rule inet portus raw ip6 daddr 2001:db8::5 udp dport 53 drop" in rules(text)
    assert not [ln for ln in rules(r.render_ruleset(r.udp_config(spec()), {})) if "drop" in ln]


def test_marks_are_stable_distinct_and_non_zero() -> None:
    doc = {"listeners": [{"id": f"l{i}"} for i in range(200)]}
    first = r.marks(doc)
    assert first == r.marks(doc) and 0 not in first.values()
    assert len(set(first.values())) == 200


def test_stale_objects_are_deleted() -> None:
    old = r.udp_config(spec(algorithm="SOURCE_IP", sp={"type": "SOURCE_IP"}))
    text = r.render_ruleset({"listeners": []}, {}, r.objects(old))
    for kind, name in (("counter", f"rx_{K}"), ("map", f"m4_{K}"), ("ct timeout", f"to4_{K}")):
        assert f"delete {kind} inet portus {name}" in text


# --- the kernel's opinion ----------------------------------------------------------------

NFT = shutil.which("nft")
UNSHARE = shutil.which("unshare")


def nft_check(text: str) -> None:
    """`nft -c` in a fresh network namespace of its own (gone when it exits)."""
    done = subprocess.run([UNSHARE or "unshare", "-n", NFT or "nft", "-c", "-f", "-"],
                          input=text, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr + text


@pytest.mark.skipif(NFT is None or UNSHARE is None, reason="needs nft (make installs nftables)")
@pytest.mark.parametrize("make, up", [
    (lambda: spec(), {}),
    (lambda: spec(members=(member("a", weight=256), member("b", "192.0.2.11", weight=7))), {}),
    (lambda: spec(algorithm="LEAST_CONNECTIONS"), {"a": False}),
    (lambda: spec(), {"a": False, "b": False}),
    (lambda: spec(algorithm="SOURCE_IP", sp={"type": "SOURCE_IP", "persistence_timeout": 10,
                                             "persistence_granularity": "255.255.0.0"}), {}),
    (lambda: spec(protocol="SCTP", algorithm="SOURCE_IP"), {}),
    (lambda: spec(additional=("2001:db8::5",), members=(member("a"), member("b", "2001:db8::9")),
                  algorithm="SOURCE_IP", sp={"type": "SOURCE_IP",
                                             "persistence_granularity": "ffff:ffff::"}), {}),
    (lambda: spec(vip="2001:db8::1", members=(member("a", "2001:db8::2"),)), {}),
    (lambda: spec(cidrs=("192.0.2.0/24", "198.51.100.7/32"), additional=("2001:db8::5",)), {}),
])
def test_nft_accepts_the_ruleset(make: Any, up: dict[str, bool]) -> None:
    nft_check(r.render_ruleset(r.udp_config(make()), up))


@pytest.mark.skipif(NFT is None or UNSHARE is None, reason="needs nft (make installs nftables)")
def test_nft_accepts_a_ruleset_applied_twice() -> None:
    text = r.render_ruleset(r.udp_config(spec()), {})
    nft_check(text + text)
