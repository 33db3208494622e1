"""Request bodies of quotas, flavors, flavor profiles, availability zones and their
profiles (Octavia v2 names and limits)."""
from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field, StrictInt

from portus.api.schemas import UUID, Bool, IntText, Name, Strict, Text, int_from_text

# -1: unlimited; None (null): back to the configured default.
QuotaValue = Annotated[StrictInt, Field(ge=-1, le=2_000_000_000), BeforeValidator(
    int_from_text, json_schema_input_type=Annotated[int, Field(ge=-1, le=2_000_000_000)] | IntText)]
Metadata = Annotated[Text, Field(max_length=4096)]
ProviderName = Annotated[Text, Field(max_length=255)]


class QuotaPUT(Strict):
    loadbalancer: QuotaValue | None = None
    load_balancer: QuotaValue | None = None  # deprecated alias of loadbalancer
    listener: QuotaValue | None = None
    member: QuotaValue | None = None
    pool: QuotaValue | None = None
    healthmonitor: QuotaValue | None = None
    health_monitor: QuotaValue | None = None  # deprecated alias of healthmonitor
    l7policy: QuotaValue | None = None
    l7rule: QuotaValue | None = None


class QuotaUpdate(Strict):
    quota: QuotaPUT


class FlavorPOST(Strict):
    name: Name
    description: Name | None = None
    enabled: Bool = True
    flavor_profile_id: UUID


class FlavorPUT(Strict):
    name: Name | None = None
    description: Name | None = None
    enabled: Bool | None = None


class FlavorCreate(Strict):
    flavor: FlavorPOST


class FlavorUpdate(Strict):
    flavor: FlavorPUT


class FlavorProfilePOST(Strict):
    name: Name
    provider_name: ProviderName
    flavor_data: Metadata


class FlavorProfilePUT(Strict):
    name: Name | None = None
    provider_name: ProviderName | None = None
    flavor_data: Metadata | None = None


class FlavorProfileCreate(Strict):
    flavorprofile: FlavorProfilePOST


class FlavorProfileUpdate(Strict):
    flavorprofile: FlavorProfilePUT


class AvailabilityZonePOST(Strict):
    name: Name
    description: Name | None = None
    enabled: Bool = True
    availability_zone_profile_id: UUID


class AvailabilityZonePUT(Strict):
    description: Name | None = None
    enabled: Bool | None = None


class AvailabilityZoneCreate(Strict):
    availability_zone: AvailabilityZonePOST


class AvailabilityZoneUpdate(Strict):
    availability_zone: AvailabilityZonePUT


class AvailabilityZoneProfilePOST(Strict):
    name: Name
    provider_name: ProviderName
    availability_zone_data: Metadata


class AvailabilityZoneProfilePUT(Strict):
    name: Name | None = None
    provider_name: ProviderName | None = None
    availability_zone_data: Metadata | None = None


class AvailabilityZoneProfileCreate(Strict):
    availability_zone_profile: AvailabilityZoneProfilePOST


class AvailabilityZoneProfileUpdate(Strict):
    availability_zone_profile: AvailabilityZoneProfilePUT
