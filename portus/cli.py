"""The `portus` command."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from portus.common import config


def _load(args: argparse.Namespace) -> config.Config:
    try:
        return config.load(args.config, overrides={"data_dir": args.data_dir})
    except config.ConfigError as exc:
        sys.exit(f"portus: configuration error: {exc}")


def _banner(cfg: config.Config, components: list[str]) -> str:
    mgmt = cfg.network.management
    lines = [
        f"portus is up: {', '.join(components)}",
        f"  API            http://{cfg.api.bind_host}:{cfg.api.bind_port}  (auth: {cfg.api.auth_strategy})",
        f"  database       {cfg.database_url}",
        f"  data dir       {cfg.data_dir}   (CA: {cfg.ca_dir})",
        f"  run dir        {cfg.run_dir}   (amphorae: {cfg.run_dir}/amphorae)",
        f"  management     {mgmt.cidr} on bridge {mgmt.bridge}, heartbeats to "
        f"{cfg.heartbeat_bind_ip}:{cfg.health_manager.bind_port}",
        "  VIP subnets (use the id as vip_subnet_id):",
    ]
    for subnet in cfg.network.subnets:
        lines.append(f"    {subnet.name:<10} id {subnet.id}  {subnet.cidr} on bridge "
                     f"{subnet.bridge}  (VIPs {subnet.allocation_start}-{subnet.allocation_end})")
    lines.append("  Stop with Ctrl-C; amphorae keep serving and are adopted at the next start.")
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace, components: list[str]) -> int:
    from portus import service

    cfg = _load(args)
    service.setup_logging(cfg.log_level)
    service.prepare_dirs(cfg)
    db = service.open_database(cfg, upgrade="api" in components or args.command == "up")
    controller = service.Controller(cfg, db, [c for c in components if c != "api"])
    controller.start()
    print(_banner(cfg, components), flush=True)
    try:
        if "api" in components:
            service.run_api(cfg, db, controller.notify)
        else:
            import signal
            import threading
            done = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: done.set())
            try:
                done.wait()
            except KeyboardInterrupt:
                pass
    finally:
        controller.stop()
        db.dispose()
        print("portus stopped.", flush=True)
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from portus import service

    cfg = _load(args)
    service.prepare_dirs(cfg)
    service.open_database(cfg, upgrade=True).dispose()
    print(f"database at head: {cfg.database_url}")
    return 0


def cmd_agent(args: argparse.Namespace) -> int:
    from portus.amphora import agent

    return agent.main(["--config", args.agent_config])


def cmd_demo(args: argparse.Namespace) -> int:
    from portus import demo

    cfg = _load(args)
    return demo.cleanup(cfg) if args.cleanup else demo.run(cfg, args.endpoint)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="portus", description="Load balancing as a service.")
    parser.add_argument("--config", help="TOML config file (default: $PORTUS_CONFIG or "
                        "/etc/portus/portus.toml if present)")
    parser.add_argument("--data-dir", help="data directory (default /var/lib/portus)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="API, worker, health manager and housekeeping in one process")
    sub.add_parser("api", help="the REST API only")
    sub.add_parser("worker", help="the worker only")
    sub.add_parser("health-manager", help="the health manager only")
    sub.add_parser("housekeeping", help="housekeeping only")
    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"])
    agent = sub.add_parser("amphora-agent", help="the agent inside an amphora")
    agent.add_argument("--agent-config", required=True, help="agent JSON config")
    demo = sub.add_parser("demo", help="two backends and a load balancer in front of them")
    demo.add_argument("--cleanup", action="store_true", help="remove what the demo made")
    demo.add_argument("--endpoint", default=None, help="API URL (default from config)")
    return parser


COMPONENTS = {"up": ["api", "worker", "health-manager", "housekeeping"], "api": ["api"],
              "worker": ["worker"], "health-manager": ["health-manager"],
              "housekeeping": ["housekeeping"]}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in COMPONENTS:
        return cmd_run(args, COMPONENTS[args.command])
    if args.command == "db":
        return cmd_db(args)
    if args.command == "amphora-agent":
        return cmd_agent(args)
    return cmd_demo(args)


if __name__ == "__main__":
    sys.exit(main())
