"""Compute driver interface: where amphorae run.

The reference driver runs each amphora as a network namespace on this host; a
Nova driver would boot VMs instead. Every method is idempotent: a worker killed
half-way simply calls it again.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


def vip_ifname(index: int) -> str:
    """The name, inside the amphora, of the interface of its index-th VIP plug (the
    keepalived configuration names it)."""
    return f"vip{index}"


@dataclass(frozen=True)
class VipPlug:
    subnet_bridge: str
    # None: the interface gets no address of its own (an ACTIVE_STANDBY amphora's
    # additional VIP interfaces, where keepalived adds the VIP).
    address: str | None
    prefixlen: int
    # Default route of the amphora; only the first VIP plug with a gateway uses it.
    gateway: str | None = None


def member_ifname(slot: int) -> str:
    """The name, inside the amphora, of its port on a member subnet."""
    return f"mbr{slot}"


@dataclass(frozen=True)
class MemberPlug:
    slot: int  # names the interfaces; stable while the amphora keeps the port
    subnet_bridge: str
    address: str
    prefixlen: int


@dataclass
class AmphoraBuild:
    amphora_id: str
    namespace: str
    base_dir: str  # agent.json, agent.log, agent.pid and `files` live here
    mgmt_ip: str
    mgmt_prefixlen: int
    mgmt_bridge: str
    vip_plugs: list[VipPlug] = field(default_factory=list)
    member_plugs: list[MemberPlug] = field(default_factory=list)
    agent_config: dict[str, Any] = field(default_factory=dict)
    # Relative path -> content, written with mode 0600 (certificates, keys).
    files: dict[str, bytes] = field(default_factory=dict)
    # The compute flavor: CPUs and memory (MB) the amphora may use; 0 is no limit.
    vcpus: float = 0.0
    ram_mb: int = 0
    # Replaces the agent command line (run inside the namespace); tests only.
    agent_argv: list[str] | None = None


class ComputeDriver(ABC):
    @abstractmethod
    def build(self, spec: AmphoraBuild) -> str:
        """Make the amphora exist with its networks, files and a running agent;
        return its compute id. Does not wait for the agent to answer."""

    @abstractmethod
    def ensure_plugs(self, spec: AmphoraBuild) -> None:
        """Give a built amphora exactly the plugs of `spec` (only its network fields
        are read): add the missing ones, remove the ones no longer wanted."""

    @abstractmethod
    def restart_agent(self, spec: AmphoraBuild) -> None:
        """Stop the agent if it runs and start it again."""

    @abstractmethod
    def delete(self, amphora_id: str, namespace: str, base_dir: str) -> None:
        """Remove every trace of the amphora; absent pieces are not an error."""

    @abstractmethod
    def exists(self, namespace: str) -> bool:
        """Whether the amphora's compute instance exists."""

    @abstractmethod
    def list_amphora_namespaces(self) -> list[str]:
        """Compute ids of every amphora on this host, known to the database or not."""

    @abstractmethod
    def agent_pid(self, namespace: str, base_dir: str) -> int | None:
        """PID of the running agent, None when it is not running."""
