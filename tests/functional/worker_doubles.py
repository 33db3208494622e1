"""Stand-ins for the amphora manager and the agent client, for Reconciler tests that
need no real amphora: they record what the worker asks for."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portus.common import constants as C
from portus.controller.amphorae import Pass


@dataclass
class FakeAmp:
    id: str
    lb_network_ip: str
    role: str = C.ROLE_STANDALONE


class FakeAmphorae:
    def __init__(self) -> None:
        self.ensured: list[str] = []
        self.removed: list[str] = []

    def ensure(self, lb_id: str) -> Pass:
        self.ensured.append(lb_id)
        return Pass([FakeAmp("amp-1", "198.18.0.2")])  # type: ignore[list-item]

    def base_dir(self, amphora_id: str) -> str:
        return f"/run/portus/amphorae/{amphora_id}"

    def certs_dir(self, amphora_id: str) -> str:
        return f"/dev/shm/portus/{amphora_id}"

    def remove_many(self, amps: list[Any]) -> None:
        assert amps == []

    def remove_all(self, lb_id: str) -> None:
        self.removed.append(lb_id)


class FakeAgents:
    def __init__(self) -> None:
        self.configs: list[str] = []
        self.generations: list[int] = []
        self.udp: list[dict[str, Any]] = []
        self.files: list[tuple[tuple[str, bytes], ...]] = []

    def put_certificates(self, amp_id: str, ip: str,
                         files: tuple[tuple[str, bytes], ...]) -> None:
        self.files.append(files)

    def put_config(self, amp_id: str, ip: str, text: str, generation: int,
                   keepalived: str | None = None) -> None:
        self.configs.append(text)
        self.generations.append(generation)

    def put_udp(self, amp_id: str, ip: str, doc: dict[str, Any], generation: int) -> None:
        self.udp.append(doc)
