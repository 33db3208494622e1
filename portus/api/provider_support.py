"""Glue between the API and the provider drivers: errors to HTTP codes, metadata
parsing, and what a load balancer's flavor and availability zone resolve to."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from sqlalchemy.orm import Session

from portus.api import errors
from portus.common.config import Config
from portus.db import models as m
from portus.drivers.provider import registry
from portus.drivers.provider.base import InvalidMetadata, ProviderDriver, UnsupportedOption

T = TypeVar("T")
MAX_METADATA = 4096


def driver(cfg: Config, name: str | None) -> ProviderDriver:
    try:
        return registry.get_driver(cfg, name)
    except registry.ProviderNotEnabled as exc:
        raise errors.BadRequest(str(exc)) from None
    except registry.ProviderNotFound as exc:
        raise errors.APIError(str(exc), 501) from None


def call(fn: Callable[..., T], *args: Any) -> T:
    """Run a driver check: refused metadata is 400, an unsupported option 501."""
    try:
        return fn(*args)
    except InvalidMetadata as exc:
        raise errors.BadRequest(f"Invalid input: {exc}") from None
    except UnsupportedOption as exc:
        raise errors.APIError(str(exc), 501) from None


def parse_metadata(text: str, field_name: str) -> dict[str, Any]:
    """A profile's JSON metadata: a JSON object of at most 4096 characters."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise errors.BadRequest(f"Invalid input for field/attribute {field_name}. "
                                f"Value: '{text[:200]}'. Value should be a valid JSON object.")
    return value


@dataclass
class Placement:
    """What a new load balancer's provider, flavor and availability zone resolve to."""
    provider: str
    driver: ProviderDriver
    flavor: dict[str, Any] = field(default_factory=dict)
    availability_zone: dict[str, Any] = field(default_factory=dict)


def resolve(session: Session, cfg: Config, provider: str | None, flavor_id: str | None,
            az_name: str | None) -> Placement:
    flavor_meta: dict[str, Any] = {}
    if flavor_id is not None:
        flavor = session.get(m.Flavor, flavor_id)
        if flavor is None:
            raise errors.BadRequest("Validation failure: Invalid flavor_id.")
        if not flavor.enabled:
            raise errors.BadRequest(f"The selected flavor is not allowed in this deployment: "
                                    f"{flavor_id}")
        profile_provider = flavor.flavor_profile.provider_name
        if provider is not None and registry.canonical(provider) != registry.canonical(
                profile_provider):
            raise errors.BadRequest(f"Flavor '{flavor_id}' is not compatible with provider "
                                    f"'{provider}'")
        provider = provider or profile_provider
        flavor_meta = parse_metadata(flavor.flavor_profile.flavor_data, "flavor_data")
    az_meta: dict[str, Any] = {}
    if az_name is not None:
        az = session.get(m.AvailabilityZone, az_name)
        if az is None:
            raise errors.BadRequest("Validation failure: Invalid availability_zone.")
        if not az.enabled:
            raise errors.BadRequest(f"The selected availability_zone is not allowed in this "
                                    f"deployment: {az_name}")
        az_provider = az.availability_zone_profile.provider_name
        if provider is not None and registry.canonical(provider) != registry.canonical(
                az_provider):
            raise errors.BadRequest(f"Availability zone '{az_name}' is not compatible with "
                                    f"provider '{provider}'")
        provider = provider or az_provider
        az_meta = parse_metadata(az.availability_zone_profile.availability_zone_data,
                                 "availability_zone_data")
    provider = provider or cfg.api.default_provider_driver
    drv = driver(cfg, provider)
    call(drv.check_load_balancer, flavor_meta)
    # Stored by its real name: "octavia" is the amphora provider.
    return Placement(registry.canonical(provider), drv, flavor_meta, az_meta)


def lb_driver(cfg: Config, lb: m.LoadBalancer) -> ProviderDriver:
    """The driver of an existing load balancer. One whose provider has since been
    disabled keeps the amphora checks rather than failing every child change."""
    try:
        return registry.get_driver(cfg, lb.provider or "amphora")
    except LookupError:
        return registry.get_driver(cfg, cfg.api.default_provider_driver)
