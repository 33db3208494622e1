"""What a load balancer's flavor means for its amphorae."""
from __future__ import annotations

import json
import logging

from sqlalchemy.orm import Session

from portus.common.config import Config
from portus.db import models as m

LOG = logging.getLogger(__name__)


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


def haproxy_binary(cfg: Config, session: Session, lb: m.LoadBalancer) -> str:
    """The HAProxy executable of the flavor's amp_image_tag, else [amphora] haproxy_bin."""
    tag = flavor_metadata(session, lb).get("amp_image_tag")
    if not isinstance(tag, str):
        return cfg.amphora.haproxy_bin
    path = cfg.amphora.images.get(tag)
    if path is None:
        LOG.warning("load balancer %s: amp_image_tag %r is no longer configured; using "
                    "[amphora] haproxy_bin", lb.id, tag)
        return cfg.amphora.haproxy_bin
    return path


def amphora_maxconn(cfg: Config, session: Session, lb: m.LoadBalancer) -> int:
    """HAProxy's global maxconn: the flavor's compute_flavor entry, else [amphora] maxconn."""
    name = flavor_metadata(session, lb).get("compute_flavor")
    if not isinstance(name, str):
        return cfg.amphora.maxconn
    entry = cfg.amphora.compute_flavors.get(name)
    if entry is None:
        LOG.warning("load balancer %s: compute_flavor %r is no longer configured; using "
                    "[amphora] maxconn", lb.id, name)
        return cfg.amphora.maxconn
    return entry.maxconn
