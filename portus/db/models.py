"""ORM models: the desired state of every load balancer and what is observed of it.

Schema changes go through an Alembic migration in db/migrations/versions; the
migration and these models must describe the same tables (a test compares them).
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, Double, Float, ForeignKey, Index,
                        Integer, MetaData, String, Text, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


ID = String(36)
# Epoch seconds need double precision: a plain FLOAT is 4 bytes on MariaDB (steps of
# 128 s today).
EPOCH = Double


class _Named:
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(String(36), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    provisioning_status: Mapped[str] = mapped_column(String(16))
    operating_status: Mapped[str] = mapped_column(String(16))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, onupdate=utcnow)


class LoadBalancer(_Named, Base):
    __tablename__ = "load_balancer"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    provider: Mapped[str] = mapped_column(String(64))
    topology: Mapped[str] = mapped_column(String(16))
    flavor_id: Mapped[str | None] = mapped_column(String(36))
    availability_zone: Mapped[str | None] = mapped_column(String(255))
    # Level-triggered convergence: the API bumps desired_generation on every change;
    # the worker records the generation it has applied to the amphorae.
    desired_generation: Mapped[int] = mapped_column(Integer, default=1)
    applied_generation: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_expires: Mapped[float | None] = mapped_column(EPOCH)
    converge_attempts: Mapped[int] = mapped_column(Integer, default=0)
    status_reason: Mapped[str | None] = mapped_column(Text)

    vip: Mapped["Vip"] = relationship(back_populates="load_balancer", uselist=False,
                                      cascade="all, delete-orphan", lazy="joined")
    listeners: Mapped[list["Listener"]] = relationship(back_populates="load_balancer",
                                                       cascade="all, delete-orphan")
    pools: Mapped[list["Pool"]] = relationship(back_populates="load_balancer",
                                               cascade="all, delete-orphan")
    amphorae: Mapped[list["Amphora"]] = relationship(back_populates="load_balancer")

    __table_args__ = (Index(None, "provisioning_status"),)


class Vip(Base):
    __tablename__ = "vip"
    load_balancer_id: Mapped[str] = mapped_column(ForeignKey("load_balancer.id"), primary_key=True)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    subnet_id: Mapped[str] = mapped_column(String(36))
    network_id: Mapped[str] = mapped_column(String(36))
    port_id: Mapped[str] = mapped_column(String(36), default=new_id)
    # Held until the load balancer row is purged, so a DELETED VIP is never reused early.
    load_balancer: Mapped[LoadBalancer] = relationship(back_populates="vip")
    __table_args__ = (UniqueConstraint("subnet_id", "ip_address"),)


class Listener(_Named, Base):
    __tablename__ = "listener"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    load_balancer_id: Mapped[str] = mapped_column(ForeignKey("load_balancer.id"), index=True)
    protocol: Mapped[str] = mapped_column(String(32))
    protocol_port: Mapped[int] = mapped_column(Integer)
    # TCP, UDP or SCTP: ports are unique per load balancer within a family.
    l4_family: Mapped[str] = mapped_column(String(8))
    connection_limit: Mapped[int] = mapped_column(Integer, default=-1)
    default_pool_id: Mapped[str | None] = mapped_column(ForeignKey("pool.id", use_alter=True))
    timeout_client_data: Mapped[int | None] = mapped_column(Integer)
    timeout_member_connect: Mapped[int | None] = mapped_column(Integer)
    timeout_member_data: Mapped[int | None] = mapped_column(Integer)
    timeout_tcp_inspect: Mapped[int | None] = mapped_column(Integer)
    insert_headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)

    load_balancer: Mapped[LoadBalancer] = relationship(back_populates="listeners")
    default_pool: Mapped["Pool | None"] = relationship(foreign_keys=[default_pool_id])
    __table_args__ = (UniqueConstraint("load_balancer_id", "protocol_port", "l4_family"),)


class Pool(_Named, Base):
    __tablename__ = "pool"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    load_balancer_id: Mapped[str] = mapped_column(ForeignKey("load_balancer.id"), index=True)
    protocol: Mapped[str] = mapped_column(String(32))
    lb_algorithm: Mapped[str] = mapped_column(String(32))
    session_persistence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    tls_enabled: Mapped[bool] = mapped_column(Boolean, default=False)

    load_balancer: Mapped[LoadBalancer] = relationship(back_populates="pools")
    members: Mapped[list["Member"]] = relationship(back_populates="pool",
                                                   cascade="all, delete-orphan")
    health_monitor: Mapped["HealthMonitor | None"] = relationship(
        back_populates="pool", uselist=False, cascade="all, delete-orphan")
    listeners: Mapped[list[Listener]] = relationship(
        primaryjoin="Listener.default_pool_id == Pool.id", viewonly=True)


class Member(_Named, Base):
    __tablename__ = "member"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    pool_id: Mapped[str] = mapped_column(ForeignKey("pool.id"), index=True)
    address: Mapped[str] = mapped_column(String(64))
    protocol_port: Mapped[int] = mapped_column(Integer)
    weight: Mapped[int] = mapped_column(Integer, default=1)
    backup: Mapped[bool] = mapped_column(Boolean, default=False)
    subnet_id: Mapped[str | None] = mapped_column(String(36))
    monitor_address: Mapped[str | None] = mapped_column(String(64))
    monitor_port: Mapped[int | None] = mapped_column(Integer)

    pool: Mapped[Pool] = relationship(back_populates="members")
    __table_args__ = (UniqueConstraint("pool_id", "address", "protocol_port"),)


class HealthMonitor(_Named, Base):
    __tablename__ = "health_monitor"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    pool_id: Mapped[str] = mapped_column(ForeignKey("pool.id"), unique=True)
    type: Mapped[str] = mapped_column(String(36))
    delay: Mapped[int] = mapped_column(Integer)
    timeout: Mapped[int] = mapped_column(Integer)
    rise_threshold: Mapped[int] = mapped_column(Integer)  # API: max_retries
    fall_threshold: Mapped[int] = mapped_column(Integer)  # API: max_retries_down
    http_method: Mapped[str | None] = mapped_column(String(16))
    url_path: Mapped[str | None] = mapped_column(String(2048))
    expected_codes: Mapped[str | None] = mapped_column(String(64))
    http_version: Mapped[float | None] = mapped_column(Float)
    domain_name: Mapped[str | None] = mapped_column(String(255))

    pool: Mapped[Pool] = relationship(back_populates="health_monitor")


class Amphora(Base):
    __tablename__ = "amphora"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    load_balancer_id: Mapped[str | None] = mapped_column(ForeignKey("load_balancer.id"), index=True)
    compute_id: Mapped[str | None] = mapped_column(String(255))  # the namespace name
    lb_network_ip: Mapped[str | None] = mapped_column(String(64), unique=True)
    vrrp_ip: Mapped[str | None] = mapped_column(String(64))
    ha_ip: Mapped[str | None] = mapped_column(String(64))
    vrrp_port_id: Mapped[str | None] = mapped_column(String(36))
    ha_port_id: Mapped[str | None] = mapped_column(String(36))
    role: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(36), index=True)
    cert_expiration: Mapped[dt.datetime | None] = mapped_column(DateTime)
    cert_busy: Mapped[bool] = mapped_column(Boolean, default=False)
    applied_generation: Mapped[int] = mapped_column(Integer, default=0)
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, onupdate=utcnow)

    load_balancer: Mapped[LoadBalancer | None] = relationship(back_populates="amphorae")


class AmphoraHealth(Base):
    __tablename__ = "amphora_health"
    amphora_id: Mapped[str] = mapped_column(ID, primary_key=True)
    last_update: Mapped[float] = mapped_column(EPOCH)  # epoch seconds
    seq: Mapped[int] = mapped_column(Integer, default=0)
    busy: Mapped[bool] = mapped_column(Boolean, default=False)


class ListenerStatistics(Base):
    __tablename__ = "listener_statistics"
    listener_id: Mapped[str] = mapped_column(ID, primary_key=True)
    amphora_id: Mapped[str] = mapped_column(ID, primary_key=True)
    bytes_in: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_out: Mapped[int] = mapped_column(BigInteger, default=0)
    active_connections: Mapped[int] = mapped_column(Integer, default=0)
    total_connections: Mapped[int] = mapped_column(BigInteger, default=0)
    request_errors: Mapped[int] = mapped_column(Integer, default=0)
