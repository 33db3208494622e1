"""Compute driver that keeps amphorae in a dict (API, worker and benchmark tests)."""
from __future__ import annotations

from typing import Any

from portus.drivers.compute.base import AmphoraBuild, ComputeDriver


class NoopCompute(ComputeDriver):
    def __init__(self, *_: Any, namespace_prefix: str = "portus-amp-", **__: Any) -> None:
        self.namespace_prefix = namespace_prefix
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.amphorae: dict[str, AmphoraBuild] = {}  # namespace -> last spec built
        self._pids: dict[str, int] = {}
        self._next_pid = 100000

    def build(self, spec: AmphoraBuild) -> str:
        self.calls.append(("build", (spec.amphora_id, spec.namespace)))
        self.amphorae[spec.namespace] = spec
        if spec.namespace not in self._pids:
            self._new_pid(spec.namespace)
        return spec.namespace

    def ensure_plugs(self, spec: AmphoraBuild) -> None:
        self.calls.append(("ensure_plugs", (spec.amphora_id, tuple(spec.member_plugs))))
        built = self.amphorae.get(spec.namespace)
        if built is not None:
            built.vip_plugs, built.member_plugs = spec.vip_plugs, spec.member_plugs

    def restart_agent(self, spec: AmphoraBuild) -> None:
        self.calls.append(("restart_agent", (spec.amphora_id, spec.namespace)))
        self._new_pid(spec.namespace)

    def delete(self, amphora_id: str, namespace: str, base_dir: str) -> None:
        self.calls.append(("delete", (amphora_id, namespace, base_dir)))
        self.amphorae.pop(namespace, None)
        self._pids.pop(namespace, None)

    def exists(self, namespace: str) -> bool:
        return namespace in self.amphorae

    def list_amphora_namespaces(self) -> list[str]:
        return sorted(ns for ns in self.amphorae if ns.startswith(self.namespace_prefix))

    def agent_pid(self, namespace: str, base_dir: str) -> int | None:
        return self._pids.get(namespace)

    def _new_pid(self, namespace: str) -> None:
        self._next_pid += 1
        self._pids[namespace] = self._next_pid
