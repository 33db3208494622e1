"""The amphora reference provider: portus's own HAProxy amphorae."""
from __future__ import annotations

from typing import Any

from portus.common.config import Config
from portus.common.constants import TOPOLOGIES
from portus.drivers.provider.base import InvalidMetadata, ProviderDriver, UnsupportedOption

ALGORITHMS = ("ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP")
L7_LISTENER_PROTOCOLS = ("HTTP", "TERMINATED_HTTPS")

# Octavia's amphora flavor and AZ keys (octavia flavor_schema.py / availability_zone_schema.py).
FLAVOR_KEYS = {
    "loadbalancer_topology": "The load balancer topology. One of: SINGLE - One amphora per "
                             "load balancer. ACTIVE_STANDBY - Two amphora per load balancer.",
    "compute_flavor": "The compute driver flavor ID.",
    "amp_image_tag": "The amphora image tag.",
    "sriov_vip": "When true, the VIP port will be created using an SR-IOV VF port.",
    "allow_member_sriov": "When true, users can request a member port be an SR-IOV VF port.",
}
AZ_KEYS = {
    "compute_zone": "The compute availability zone.",
    "volume_zone": "The volume availability zone.",
    "management_network": "The management network ID for the amphora.",
    "valid_vip_networks": "List of network IDs that are allowed for VIP use. This overrides/"
                          "replaces the list of allowed networks configured in `octavia.conf`.",
}


def _check_keys(metadata: dict[str, Any], allowed: dict[str, str], what: str) -> None:
    unknown = sorted(set(metadata) - set(allowed))
    if unknown:
        raise InvalidMetadata(f"Additional properties are not allowed in {what}: "
                              f"{', '.join(unknown)}")


def _check_str(metadata: dict[str, Any], key: str) -> None:
    if key in metadata and not (isinstance(metadata[key], str) and metadata[key]):
        raise InvalidMetadata(f"{key}: {metadata[key]!r} is not a non-empty string")


def _check_bool(metadata: dict[str, Any], key: str) -> None:
    if key in metadata and not isinstance(metadata[key], bool):
        raise InvalidMetadata(f"{key}: {metadata[key]!r} is not of type 'boolean'")


class AmphoraProvider(ProviderDriver):
    name = "amphora"
    description = "The Octavia Amphora driver."

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg

    def flavor_capabilities(self) -> dict[str, str]:
        return dict(FLAVOR_KEYS)

    def validate_flavor(self, metadata: dict[str, Any]) -> None:
        _check_keys(metadata, FLAVOR_KEYS, "flavor_data")
        topology = metadata.get("loadbalancer_topology")
        if "loadbalancer_topology" in metadata and topology not in TOPOLOGIES:
            raise InvalidMetadata(f"loadbalancer_topology: {topology!r} is not one of "
                                  f"{', '.join(TOPOLOGIES)}")
        for key in ("compute_flavor", "amp_image_tag"):
            _check_str(metadata, key)
        for key in ("sriov_vip", "allow_member_sriov"):
            _check_bool(metadata, key)
        # No compute service here: a compute flavor is a table of amphora resources in
        # the configuration, so an unknown name is caught now rather than at build time.
        compute_flavor = metadata.get("compute_flavor")
        if compute_flavor is not None and compute_flavor not in self.cfg.amphora.compute_flavors:
            known = ", ".join(sorted(self.cfg.amphora.compute_flavors)) or "none configured"
            raise InvalidMetadata(f"compute_flavor: {compute_flavor!r} is not a configured "
                                  f"[amphora.compute_flavors] entry ({known})")
        tag = metadata.get("amp_image_tag")
        if tag is not None and tag not in self.cfg.amphora.images:
            known = ", ".join(sorted(self.cfg.amphora.images)) or "none configured"
            raise InvalidMetadata(f"amp_image_tag: {tag!r} is not a configured "
                                  f"[amphora.images] entry ({known})")

    def availability_zone_capabilities(self) -> dict[str, str]:
        return dict(AZ_KEYS)

    def validate_availability_zone(self, metadata: dict[str, Any]) -> None:
        _check_keys(metadata, AZ_KEYS, "availability_zone_data")
        for key in ("compute_zone", "volume_zone", "management_network"):
            _check_str(metadata, key)
        networks = metadata.get("valid_vip_networks")
        if networks is not None and not (isinstance(networks, list)
                                         and all(isinstance(n, str) for n in networks)):
            raise InvalidMetadata(f"valid_vip_networks: {networks!r} is not a list of strings")

    def check_load_balancer(self, flavor: dict[str, Any]) -> None:
        # Honest refusal: accepted by the schema, not built by this data plane.
        if flavor.get("sriov_vip"):
            raise UnsupportedOption("Provider 'amphora' does not support a requested option: "
                                    "SR-IOV VIPs are not available on this deployment.")

    def check_pool(self, protocol: str, lb_algorithm: str) -> None:
        if lb_algorithm not in ALGORITHMS:
            raise UnsupportedOption(f"Provider 'amphora' does not support a requested option: "
                                    f"Amphora provider does not support {lb_algorithm} algorithm.")

    def check_l7policy(self, listener_protocol: str) -> None:
        if listener_protocol not in L7_LISTENER_PROTOCOLS:
            raise UnsupportedOption(f"Provider 'amphora' does not support a requested option: "
                                    f"L7 policies are only supported on HTTP and "
                                    f"TERMINATED_HTTPS listeners, not {listener_protocol}.")
