"""The Alembic migrations build exactly the schema of portus.db.models, and go down and
up again, on SQLite, PostgreSQL and MariaDB."""
from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from portus.db import migrate, models as m


def schema_diff(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "compare_server_default": True})
        return list(compare_metadata(context, m.Base.metadata))


def tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head() -> str:
    return str(ScriptDirectory.from_config(migrate.alembic_config()).get_current_head())


def test_upgrade_builds_the_models_schema(blank_database: Engine) -> None:
    assert tables(blank_database) == set()
    migrate.upgrade(blank_database)
    assert current_revision(blank_database) == head()
    assert tables(blank_database) == set(m.Base.metadata.tables) | {"alembic_version"}
    assert schema_diff(blank_database) == []


def test_listener_default_pool_is_a_foreign_key(blank_database: Engine) -> None:
    migrate.upgrade(blank_database)
    keys = sa.inspect(blank_database).get_foreign_keys("listener")
    assert {(tuple(k["constrained_columns"]), k["referred_table"]) for k in keys} == {
        (("load_balancer_id",), "load_balancer"), (("default_pool_id",), "pool")}


def test_epoch_columns_keep_sub_second_precision(blank_database: Engine) -> None:
    migrate.upgrade(blank_database)
    now = 1_800_000_123.25
    with blank_database.begin() as conn:
        conn.execute(m.Base.metadata.tables["amphora_health"].insert().values(
            amphora_id="a", last_update=now, seq=1, busy=False))
        conn.execute(m.Base.metadata.tables["load_balancer"].insert().values(
            id="lb", provider="amphora", topology="SINGLE", desired_generation=1,
            applied_generation=0, converge_attempts=0, project_id="p", enabled=True,
            provisioning_status="ACTIVE", operating_status="ONLINE",
            created_at=m.utcnow(), lease_expires=now))
    with blank_database.connect() as conn:
        assert conn.execute(sa.select(m.AmphoraHealth.last_update)).scalar_one() == now
        assert conn.execute(sa.select(m.LoadBalancer.lease_expires)).scalar_one() == now
        # Comparisons in SQL (leases, heartbeat timeouts) see the same value.
        assert conn.execute(sa.select(sa.func.count()).select_from(m.AmphoraHealth)
                            .where(m.AmphoraHealth.last_update > now - 1)).scalar_one() == 1


def test_downgrade_and_upgrade_again(blank_database: Engine) -> None:
    migrate.upgrade(blank_database)
    migrate.downgrade(blank_database, "base")
    assert current_revision(blank_database) is None
    assert tables(blank_database) <= {"alembic_version"}
    migrate.upgrade(blank_database)
    assert current_revision(blank_database) == head()
    assert schema_diff(blank_database) == []


def shape(engine: Engine) -> dict[str, Any]:
    """Tables with their columns, indexes, unique and foreign keys, as the database has them."""
    inspector = sa.inspect(engine)
    out: dict[str, Any] = {}
    for table in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
        out[table] = (
            sorted((c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)),
            sorted((i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(table)),
            sorted((u["name"], tuple(u["column_names"]))
                   for u in inspector.get_unique_constraints(table)),
            sorted((tuple(k["constrained_columns"]), k["referred_table"])
                   for k in inspector.get_foreign_keys(table)),
        )
    return out


def test_every_step_goes_down_and_up(blank_database: Engine) -> None:
    """Each downgrade restores exactly the schema of the revision before it."""
    script = ScriptDirectory.from_config(migrate.alembic_config())
    revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
    assert revisions[0] == "0001"
    for revision in revisions:
        before = shape(blank_database)
        migrate.upgrade(blank_database, revision)
        after = shape(blank_database)
        assert current_revision(blank_database) == revision
        down = script.get_revision(revision).down_revision
        migrate.downgrade(blank_database, str(down) if down else "base")
        assert shape(blank_database) == before, revision
        migrate.upgrade(blank_database, revision)
        assert current_revision(blank_database) == revision
        assert shape(blank_database) == after, revision
    assert schema_diff(blank_database) == []




def test_ip_allocation_is_filled_from_the_holders(blank_database: Engine,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """0004 records the addresses that VIPs, additional VIPs, the VRRP addresses of live
    pair amphorae and member ports held; of two holders of one address, the VIP keeps it."""
    from portus.db import ipam

    migrate.upgrade(blank_database, "0003")
    t = m.Base.metadata.tables
    now = m.utcnow()
    lb = dict(provider="amphora", topology="ACTIVE_STANDBY", desired_generation=1,
              applied_generation=0, converge_attempts=0, project_id="p", enabled=True,
              provisioning_status="ACTIVE", operating_status="ONLINE", created_at=now)
    amp = dict(cert_busy=False, applied_generation=0, created_at=now)
    with blank_database.begin() as conn:
        for lb_id in ("pair", "single", "gone", "other"):
            conn.execute(t["load_balancer"].insert().values(id=lb_id, **lb))
        for lb_id, address in (("pair", "10.0.0.10"), ("single", "10.0.0.11"),
                               ("gone", None), ("other", "10.0.0.250")):
            conn.execute(t["vip"].insert().values(load_balancer_id=lb_id, subnet_id="s1",
                                                  network_id="n1", port_id=lb_id,
                                                  ip_address=address))
        conn.execute(t["additional_vip"].insert().values(
            load_balancer_id="pair", subnet_id="s2", network_id="n2", port_id="x",
            ip_address="10.1.0.10"))
        for amp_id, lb_id, role, status, vrrp_ip in (
                ("master", "pair", "MASTER", "ALLOCATED", "10.0.0.254"),
                ("backup", "pair", "BACKUP", "ERROR", "10.0.0.253"),
                ("old", "pair", "MASTER", "DELETED", "10.0.0.252"),
                ("clash", "pair", "BACKUP", "BOOTING", "10.0.0.250"),
                ("standalone", "single", "STANDALONE", "ALLOCATED", "10.0.0.11")):
            conn.execute(t["amphora"].insert().values(id=amp_id, load_balancer_id=lb_id,
                                                      role=role, status=status,
                                                      vrrp_ip=vrrp_ip, **amp))
        conn.execute(t["amphora_member_port"].insert().values(
            amphora_id="master", subnet_id="s3", slot=0, ip_address="10.2.0.254"))
    migrate.upgrade(blank_database, "0004")
    with blank_database.connect() as conn:
        rows = {tuple(r) for r in conn.execute(sa.select(t["ip_allocation"]))}
    assert rows == {("s1", "10.0.0.10", "vip", "pair"), ("s1", "10.0.0.11", "vip", "single"),
                    ("s1", "10.0.0.250", "vip", "other"),
                    ("s2", "10.1.0.10", "additional_vip", "pair"),
                    ("s1", "10.0.0.254", "vrrp", "master"),
                    ("s1", "10.0.0.253", "vrrp", "backup"),
                    ("s3", "10.2.0.254", "member_port", "master")}
    assert "vrrp 10.0.0.250 of clash is also held by vip other" in caplog.text
    # The audit names the holder left without a row (its address is another's).
    migrate.upgrade(blank_database)
    with Session(blank_database) as session:
        assert ipam.audit(session) == ({ipam.Allocation("s1", "10.0.0.250", "vrrp", "clash")},
                                       set())
