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
    if "api" in components:
        from portus.api import auth
        try:
            auth.check_files(cfg)  # a bad policy or token file stops the start, clearly
        except ValueError as exc:
            sys.exit(f"portus: configuration error: {exc}")
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


def cmd_token(args: argparse.Namespace) -> int:
    """API tokens for auth_strategy = "token"; the secret is printed once, never stored."""
    from portus import service
    from portus.api import tokens

    cfg = _load(args)
    service.prepare_dirs(cfg)
    db = service.open_database(cfg, upgrade=True)
    try:
        if args.action == "create":
            roles = [r.strip() for r in args.roles.split(",") if r.strip()]
            token_id, secret = tokens.create(db, args.project, roles, args.name, args.expires_in)
            print(f"id      {token_id}\nproject {args.project}\nroles   {','.join(roles)}\n"
                  f"token   {secret}\n(the token is shown only now; portus keeps its hash)")
        elif args.action == "list":
            print(f"{'id':<36}  {'name':<16}  {'project':<20}  {'roles':<24}  expires (UTC)")
            for t in tokens.list_all(db):
                print(f"{t.id:<36}  {t.name or '':<16}  {t.project_id or '':<20}  "
                      f"{','.join(t.roles):<24}  {t.expires_at or 'never'}")
        elif not tokens.delete(db, args.id):
            sys.exit(f"portus: no token {args.id}")
    finally:
        db.dispose()
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
    token = sub.add_parser("token", help="API tokens (auth_strategy = token)")
    token_sub = token.add_subparsers(dest="action", required=True)
    create = token_sub.add_parser("create", help="a new token; prints the secret once")
    create.add_argument("--project", required=True, help="project the token acts for")
    create.add_argument("--roles", required=True, help="comma-separated, e.g. member,reader")
    create.add_argument("--name", default=None, help="a label (also the user id)")
    create.add_argument("--expires-in", type=float, default=None, metavar="SECONDS",
                        help="lifetime (default: no expiry)")
    token_sub.add_parser("list", help="tokens (never their secrets)")
    delete = token_sub.add_parser("delete", help="revoke a token")
    delete.add_argument("id")
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
    if args.command == "token":
        return cmd_token(args)
    return cmd_demo(args)


if __name__ == "__main__":
    sys.exit(main())
