"""Provider names -> driver objects, from `[api] enabled_provider_drivers`."""
from __future__ import annotations

from portus.common.config import Config
from portus.drivers.provider.amphora import AmphoraProvider
from portus.drivers.provider.base import ProviderDriver
from portus.drivers.provider.noop import NoopProvider

# "octavia" is Octavia's historical alias of the amphora driver.
_ALIASES = {"octavia": "amphora"}


class ProviderNotEnabled(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"Provider '{name}' is not enabled.")
        self.provider = name


class ProviderNotFound(LookupError):
    """Enabled in the configuration, but portus has no driver of this name (501)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Provider '{name}' was not found.")
        self.provider = name


def canonical(name: str) -> str:
    return _ALIASES.get(name, name)


def get_driver(cfg: Config, name: str | None) -> ProviderDriver:
    """The enabled driver of this name (None: the default provider)."""
    name = name or cfg.api.default_provider_driver
    if name not in cfg.api.enabled_provider_drivers:
        raise ProviderNotEnabled(name)
    real = canonical(name)
    if real == "amphora":
        return AmphoraProvider(cfg)
    if real == "noop":
        return NoopProvider()
    raise ProviderNotFound(name)


def builds_amphorae(cfg: Config, name: str | None) -> bool:
    """Whether the worker builds amphorae for load balancers of this provider. A provider
    disabled since the load balancer was created keeps the amphora behaviour."""
    return canonical(name or "amphora") != "noop"
