"""docs/config.md documents every option of portus.common.config."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from portus.common import config

DOC = (Path(__file__).resolve().parents[2] / "docs" / "config.md").read_text()
SECTIONS = {"compute_flavors": "[amphora.compute_flavors.", "subnets": "[[network.subnets]]"}


def _options(obj: Any, prefix: str = "") -> list[tuple[str, str]]:
    out = []
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        if dataclasses.is_dataclass(value):
            out += _options(value, f"{prefix}{field.name}.")
        else:
            out.append((prefix + field.name, field.name))
    return out


def test_every_option_is_documented() -> None:
    missing = []
    for path, name in _options(config.Config()):
        marker = SECTIONS.get(name, f"`{name}`")
        if marker not in DOC:
            missing.append(path)
    for field in dataclasses.fields(config.SubnetConfig):
        if f"`{field.name}`" not in DOC:
            missing.append(f"network.subnets.{field.name}")
    assert missing == []
