"""Engine and session factory for SQLite, PostgreSQL and MariaDB."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

_WRITE = "portus_write"
_BUSY_TIMEOUT_S = 30


def make_engine(url: str, **kwargs: Any) -> Engine:
    if not url.startswith("sqlite"):
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        if url.startswith("mysql"):
            kwargs.setdefault("isolation_level", "READ COMMITTED")
        return create_engine(url, **kwargs)

    engine = create_engine(url, connect_args={"check_same_thread": False,
                                                "timeout": _BUSY_TIMEOUT_S}, **kwargs)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, below
        cur = dbapi_conn.cursor()
        # WAL lets readers go on while one writer writes.
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Any) -> None:
        # A writing transaction takes the lock at BEGIN so concurrent writers wait
        # (busy_timeout) instead of failing on a read-to-write lock upgrade.
        immediate = conn.get_execution_options().get(_WRITE)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """One engine and its sessions; passed to every component that needs the DB."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._factory = sessionmaker(engine, expire_on_commit=False)
        # SQLite lets one writer in at a time and has the others poll, sleeping up to
        # 100 ms between tries: the writers of this process (API, worker, health
        # manager in `portus up`) queue here instead and start as soon as the one
        # before them ends. Other processes still meet the busy timeout.
        self._writers = threading.Lock() if engine.dialect.name == "sqlite" else None

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> "Database":
        return cls(make_engine(url, **kwargs))

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._factory() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction committed on success and rolled back on any exception."""
        queued = self._writers is not None and self._writers.acquire(timeout=_BUSY_TIMEOUT_S)
        try:
            with self._factory() as session:
                session.connection(execution_options={_WRITE: True})
                try:
                    yield session
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise
        finally:
            if queued:
                self._writers.release()  # type: ignore[union-attr]

    def dispose(self) -> None:
        self.engine.dispose()
