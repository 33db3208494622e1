"""The API under `auth_strategy = "token"`, with one token per persona in a token file.

Import the fixtures into a test module (`from tests.functional.auth_helpers import
token_api, _token_session  # noqa: F401`). Every persona acts for project p1 unless
its entry says otherwise; `api.as_(persona)` gives the headers for a request.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from portus.api.app import create_app
from portus.api.deps import Services
from portus.api.tokens import digest
from portus.common import config
from portus.common.config import load
from portus.db.session import Database
from tests.functional.conftest import Api, empty_tables

# persona -> (project, roles)
PERSONAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "admin": ("p1", ("admin",)),
    "member": ("p1", ("member",)),
    "reader": ("p1", ("reader",)),
    "lb_member": ("p1", ("load-balancer_member",)),
    "lb_observer": ("p1", ("load-balancer_observer",)),
    "lb_global_observer": ("p1", ("load-balancer_global_observer",)),
    "lb_admin": ("p1", ("load-balancer_admin",)),
    "nobody": ("p1", ("foo",)),
    "service": ("p1", ("service",)),
    "member_p2": ("p2", ("member",)),
}


def secret(persona: str) -> str:
    return f"secret-of-{persona}"


def write_token_file(path: Path) -> None:
    lines = []
    for persona, (project, roles) in PERSONAS.items():
        role_list = ", ".join(f'"{r}"' for r in roles)
        lines.append(f'[[token]]\nname = "{persona}"\nsha256 = "{digest(secret(persona))}"\n'
                     f'project_id = "{project}"\nroles = [{role_list}]\n')
    lines.append(f'[[token]]\nname = "expired"\nsha256 = "{digest(secret("expired"))}"\n'
                 f'project_id = "p1"\nroles = ["admin"]\nexpires_at = 2001-01-01T00:00:00Z\n')
    path.write_text("\n".join(lines))


class TokenApi(Api):
    def as_(self, persona: str) -> dict[str, str]:
        return {"X-Auth-Token": secret(persona)}


def token_config(data_dir: Path, **api: str) -> config.Config:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(config, "DEFAULT_CONFIG_PATHS", ())
        cfg = load(environ={}, overrides={"data_dir": str(data_dir)})
    cfg.api.auth_strategy = "token"
    for key, value in api.items():
        setattr(cfg.api, key, value)
    return cfg


@pytest.fixture(scope="session")
def _token_session(database: Database,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenApi]:
    data_dir = tmp_path_factory.mktemp("token-auth")
    token_file = data_dir / "tokens.toml"
    write_token_file(token_file)
    cfg = token_config(data_dir, token_file=str(token_file))
    woken: list[str] = []
    client = TokenApi(create_app(Services(cfg, database, woken.append)), database, cfg, woken)
    client.headers["X-Auth-Token"] = secret("admin")  # the default: set-up calls
    with client:
        yield client


@pytest.fixture
def token_api(_token_session: TokenApi) -> TokenApi:
    """The token-strategy API over an emptied database; requests default to the admin."""
    empty_tables(_token_session.db)
    _token_session.woken.clear()
    return _token_session
