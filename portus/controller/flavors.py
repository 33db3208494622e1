"""What a load balancer's flavor means for its amphorae."""
from __future__ import annotations

import json
import logging
from typing import Mapping, TypeVar

from sqlalchemy.orm import Session

from portus.common.config import ComputeFlavorConfig, Config
from portus.db import models as m

LOG = logging.getLogger(__name__)
T = TypeVar("T")


def flavor_metadata(session: Session, lb: m.LoadBalancer) -> dict[str, object]:
    if lb.flavor_id is None:
        return {}
    flavor = session.get(m.Flavor, lb.flavor_id)
    if flavor is None:  # cannot be deleted while in use; be lenient anyway
        return {}
    try:
        data = json.loads(flavor.flavor_profile.flavor_data)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _configured(session: Session, lb: m.LoadBalancer, key: str, table: Mapping[str, T],
                option: str) -> T | None:
    """The [amphora] `table` entry the flavor's `key` names; None without one (a
    name no longer configured is logged: the default applies)."""
    name = flavor_metadata(session, lb).get(key)
    if not isinstance(name, str):
        return None
    if name not in table:
        LOG.warning("load balancer %s: %s %r is no longer configured; using [amphora] %s",
                    lb.id, key, name, option)
        return None
    return table[name]


def haproxy_binary(cfg: Config, session: Session, lb: m.LoadBalancer) -> str:
    """The HAProxy executable of the flavor's amp_image_tag, else [amphora] haproxy_bin."""
    path = _configured(session, lb, "amp_image_tag", cfg.amphora.images, "haproxy_bin")
    return cfg.amphora.haproxy_bin if path is None else path


def amphora_resources(cfg: Config, session: Session, lb: m.LoadBalancer) -> ComputeFlavorConfig:
    """HAProxy's global maxconn and the amphora's CPU and memory limits: the flavor's
    compute_flavor entry, else the [amphora] values."""
    entry = _configured(session, lb, "compute_flavor", cfg.amphora.compute_flavors,
                        "maxconn, vcpus and ram_mb")
    return entry or cfg.amphora
