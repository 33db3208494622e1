"""Every listener binds the VIP and each additional VIP."""
from __future__ import annotations

import pytest

from portus.amphora.render import RenderError, render_haproxy
from portus.amphora.spec import AmphoraRuntime, ListenerSpec, LoadBalancerSpec

RUNTIME = AmphoraRuntime(amphora_id="amp1", base_dir="/run/portus/amphorae/amp1")


def spec(extra: tuple[str, ...]) -> LoadBalancerSpec:
    return LoadBalancerSpec(
        id="lb1", project_id="p", vip_address="198.18.1.10", generation=1,
        listeners=(ListenerSpec(id="l1", protocol="HTTP", port=80),
                   ListenerSpec(id="l2", protocol="TCP", port=443)),
        additional_vips=extra)


def binds(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("bind ")]


def test_one_bind_per_vip_per_listener() -> None:
    text = render_haproxy(spec(("198.51.100.5", "2001:db8::5")), RUNTIME)
    assert binds(text) == ["bind 198.18.1.10:80", "bind 198.51.100.5:80", "bind [2001:db8::5]:80",
                           "bind 198.18.1.10:443", "bind 198.51.100.5:443",
                           "bind [2001:db8::5]:443"]


def test_no_additional_vips_renders_as_before() -> None:
    assert binds(render_haproxy(spec(()), RUNTIME)) == ["bind 198.18.1.10:80",
                                                        "bind 198.18.1.10:443"]


def test_unsafe_additional_vip_is_refused() -> None:
    with pytest.raises(RenderError):
        render_haproxy(spec(("198.51.100.5\n    bind 0.0.0.0:1",)), RUNTIME)
