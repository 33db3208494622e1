"""Wire the components together: the same pieces run in one process (`portus up`) or
one per process (`portus api`, `portus worker`, ...)."""
from __future__ import annotations

import gc
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from portus.common.config import Config
from portus.db import migrate
from portus.db.session import Database

if TYPE_CHECKING:
    from portus.drivers.amphora.rest_client import AgentClient
    from portus.drivers.certificates.local_ca import LocalCA

LOG = logging.getLogger("portus")


def setup_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


def prepare_dirs(cfg: Config) -> None:
    for path in (cfg.data_dir, cfg.run_dir, str(Path(cfg.run_dir) / "amphorae")):
        Path(path).mkdir(parents=True, exist_ok=True)
        os.chmod(path, 0o700)


def heartbeat_key(cfg: Config) -> str:
    """The configured key, or one generated at first start and kept in the data dir."""
    if cfg.health_manager.heartbeat_key:
        return cfg.health_manager.heartbeat_key
    path = Path(cfg.data_dir) / "heartbeat.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def open_database(cfg: Config, upgrade: bool) -> Database:
    db = Database.from_url(cfg.database_url)
    if upgrade:
        migrate.upgrade(db.engine)
    return db


@dataclass
class Controller:
    """The controller side of portus: worker, health manager, housekeeping."""
    cfg: Config
    db: Database
    components: list[str]
    notify_hooks: list[Callable[[str], None]] = field(default_factory=list)
    _stops: list[Callable[[], None]] = field(default_factory=list)

    def notify(self, lb_id: str) -> None:
        for hook in self.notify_hooks:
            hook(lb_id)

    def start(self) -> None:
        from portus.controller.amphorae import AmphoraManager
        from portus.controller.health_manager import HealthManager
        from portus.controller.cert_rotation import CertRotator
        from portus.controller.housekeeping import HouseKeeping
        from portus.controller.lease import Leases
        from portus.controller.worker import Reconciler, Worker
        from portus.drivers.compute.netns import NetnsCompute
        from portus.drivers.network.linux_bridge import LinuxBridgeNetwork

        cfg = self.cfg
        if not self.components:
            return
        network = LinuxBridgeNetwork(cfg.network)
        network.ensure_networks()
        compute = NetnsCompute(cfg.amphora, network)
        key = heartbeat_key(cfg)
        if "worker" in self.components:
            ca, agents = _ca_and_agents(cfg)
            owner = f"{cfg.host_id}:{os.getpid()}:{secrets.token_hex(4)}"
            leases = Leases(self.db, owner, cfg.controller.lease_ttl)
            amphorae = AmphoraManager(cfg, self.db, compute, agents, ca, key)
            reconciler = Reconciler(cfg, self.db, leases, amphorae, agents)
            worker = Worker(cfg, self.db, reconciler.converge)
            worker.start()
            worker.sweep()
            self.notify_hooks.append(worker.notify)
            self._stops.append(worker.stop)
        if "health-manager" in self.components:
            hm = HealthManager(cfg, self.db, key.encode(), self.notify)
            hm.start()
            self._stops.append(hm.stop)
        if "housekeeping" in self.components:
            ca, agents = _ca_and_agents(cfg)
            hk = HouseKeeping(cfg, self.db, compute,
                              CertRotator(cfg, self.db, ca, agents).rotate_expiring)
            hk.start()
            self._stops.append(hk.stop)

    def stop(self) -> None:
        for stop in reversed(self._stops):
            try:
                stop()
            except Exception:
                LOG.exception("stopping a component failed")


def run_api(cfg: Config, db: Database, notify: Callable[[str], None]) -> None:
    """Serve the API in the foreground until SIGINT/SIGTERM."""
    import uvicorn

    from portus.api.app import create_app
    from portus.api.deps import Services

    app = create_app(Services(cfg, db, notify))
    # Everything loaded so far (modules, the app, the OpenAPI models) lives as long as
    # the process: out of the collector's reach, a full collection during a request
    # (a 1,000-item list allocates enough to trigger several) no longer walks it all.
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=cfg.api.bind_host, port=cfg.api.bind_port, log_level="warning",
                access_log=False, lifespan="off")


def _ca_and_agents(cfg: Config) -> tuple["LocalCA", "AgentClient"]:
    """portus's CA (created at first start) and a client to amphora agents."""
    from portus.drivers.amphora.rest_client import AgentClient
    from portus.drivers.certificates.local_ca import LocalCA

    ca = LocalCA(cfg.ca_dir, cfg.certificates.validity_days)
    ca.ensure()
    return ca, AgentClient(str(ca.ca_cert_path), str(ca.client_cert_path),
                           str(ca.client_key_path), port=cfg.amphora.agent_port,
                           timeout=cfg.amphora.request_timeout)
