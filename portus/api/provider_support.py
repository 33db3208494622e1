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


def validate_metadata(provider: str, check: Callable[[dict[str, Any]], None],
                      metadata: dict[str, Any]) -> None:
    """A provider's check of flavor or availability zone profile data. What it refuses
    is 501 "Provider '<name>' does not support a requested option: …", as Octavia's
    drivers raise UnsupportedOptionError for data their schema does not take."""
    try:
        check(metadata)
    except (InvalidMetadata, UnsupportedOption) as exc:
        text = str(exc)
        prefix = f"Provider '{provider}' does not support a requested option: "
        raise errors.APIError(text if text.startswith(prefix) else prefix + text, 501) from None


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


def _from_profile(provider: str | None, row: Any, key: str, field: str, selected: str,
                  label: str, profile: Any, data_field: str) -> tuple[str | None, dict[str, Any]]:
    """The checks flavors and availability zones share: the row exists and is enabled,
    and its profile's provider agrees with the one asked for. Returns the provider
    (the profile's when none was asked for) and the profile's metadata."""
    if row is None:
        raise errors.BadRequest(f"Validation failure: Invalid {field}.")
    if not row.enabled:
        raise errors.BadRequest(f"The selected {selected} is not allowed in this deployment: "
                                f"{key}")
    if provider is not None and registry.canonical(provider) != registry.canonical(
            profile.provider_name):
        raise errors.BadRequest(f"{label} '{key}' is not compatible with provider '{provider}'")
    return provider or profile.provider_name, parse_metadata(getattr(profile, data_field),
                                                             data_field)


def resolve(session: Session, cfg: Config, provider: str | None, flavor_id: str | None,
            az_name: str | None) -> Placement:
    flavor_meta: dict[str, Any] = {}
    if flavor_id is not None:
        flavor = session.get(m.Flavor, flavor_id)
        provider, flavor_meta = _from_profile(
            provider, flavor, flavor_id, "flavor_id", "flavor", "Flavor",
            flavor.flavor_profile if flavor else None, "flavor_data")
    az_meta: dict[str, Any] = {}
    if az_name is not None:
        az = session.get(m.AvailabilityZone, az_name)
        provider, az_meta = _from_profile(
            provider, az, az_name, "availability_zone", "availability_zone", "Availability zone",
            az.availability_zone_profile if az else None, "availability_zone_data")
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
