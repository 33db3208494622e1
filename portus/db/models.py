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
from sqlalchemy.ext.associationproxy import AssociationProxy, association_proxy
from sqlalchemy.orm import (DeclarativeBase, Mapped, declared_attr, foreign, mapped_column,
                            relationship)

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


class Tag(Base):
    """Tags of any resource, one row each, so tag filters run in SQL."""
    __tablename__ = "tag"
    resource_id: Mapped[str] = mapped_column(ID, primary_key=True)
    tag: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)


class _Tagged:
    id: Mapped[str]

    @declared_attr
    def tag_rows(cls) -> Mapped[list[Tag]]:
        return relationship(Tag, primaryjoin=lambda: foreign(Tag.resource_id) == cls.id,
                            cascade="all, delete-orphan", lazy="selectin", order_by=Tag.tag,
                            overlaps="tag_rows")

    tags: AssociationProxy[list[str]] = association_proxy(
        "tag_rows", "tag", creator=lambda value: Tag(tag=value))


class _Named(_Tagged):
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(String(36), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    provisioning_status: Mapped[str] = mapped_column(String(16))
    operating_status: Mapped[str] = mapped_column(String(16))
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
    additional_vips: Mapped[list["AdditionalVip"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin")

    __table_args__ = (Index(None, "provisioning_status"),)


class Vip(Base):
    __tablename__ = "vip"
    load_balancer_id: Mapped[str] = mapped_column(ForeignKey("load_balancer.id"), primary_key=True)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    subnet_id: Mapped[str] = mapped_column(String(36))
    network_id: Mapped[str] = mapped_column(String(36))
    port_id: Mapped[str] = mapped_column(String(36), default=new_id)
    # The row stays until the load balancer row is purged; the address (ip_allocation)
    # is freed when the load balancer goes DELETED (ip_address NULL).
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
    # TLS termination: refs name secrets in the certificate store (drivers/certificates).
    default_tls_container_ref: Mapped[str | None] = mapped_column(String(255))
    sni_container_refs: Mapped[list[str]] = mapped_column(JSON, default=list)
    client_authentication: Mapped[str] = mapped_column(String(16), default="NONE")
    client_ca_tls_container_ref: Mapped[str | None] = mapped_column(String(255))
    client_crl_container_ref: Mapped[str | None] = mapped_column(String(255))
    tls_ciphers: Mapped[str | None] = mapped_column(String(2048))
    tls_versions: Mapped[list[str] | None] = mapped_column(JSON)
    alpn_protocols: Mapped[list[str] | None] = mapped_column(JSON)
    hsts_max_age: Mapped[int | None] = mapped_column(Integer)
    hsts_include_subdomains: Mapped[bool] = mapped_column(Boolean, default=False)
    hsts_preload: Mapped[bool] = mapped_column(Boolean, default=False)
    allowed_cidrs: Mapped[list[str] | None] = mapped_column(JSON)

    load_balancer: Mapped[LoadBalancer] = relationship(back_populates="listeners")
    default_pool: Mapped["Pool | None"] = relationship(foreign_keys=[default_pool_id])
    l7policies: Mapped[list["L7Policy"]] = relationship(
        back_populates="listener", order_by="L7Policy.position", cascade="all, delete-orphan")
    __table_args__ = (UniqueConstraint("load_balancer_id", "protocol_port", "l4_family"),)


class Pool(_Named, Base):
    __tablename__ = "pool"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    load_balancer_id: Mapped[str] = mapped_column(ForeignKey("load_balancer.id"), index=True)
    protocol: Mapped[str] = mapped_column(String(32))
    lb_algorithm: Mapped[str] = mapped_column(String(32))
    session_persistence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    tls_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    tls_container_ref: Mapped[str | None] = mapped_column(String(255))
    ca_tls_container_ref: Mapped[str | None] = mapped_column(String(255))
    crl_container_ref: Mapped[str | None] = mapped_column(String(255))
    tls_ciphers: Mapped[str | None] = mapped_column(String(2048))
    tls_versions: Mapped[list[str] | None] = mapped_column(JSON)
    alpn_protocols: Mapped[list[str] | None] = mapped_column(JSON)

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
    vrrp_interface: Mapped[str | None] = mapped_column(String(16))
    vrrp_id: Mapped[int | None] = mapped_column(Integer)
    vrrp_priority: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(36), index=True)
    cert_expiration: Mapped[dt.datetime | None] = mapped_column(DateTime)
    cert_busy: Mapped[bool] = mapped_column(Boolean, default=False)
    applied_generation: Mapped[int] = mapped_column(Integer, default=0)
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, onupdate=utcnow)

    load_balancer: Mapped[LoadBalancer | None] = relationship(back_populates="amphorae")


class AmphoraMemberPort(Base):
    """An amphora's own interface on a member subnet other than its VIP subnets (as
    Octavia plugs a port into each member subnet). The slot names the interface, so
    it keeps its name while other member subnets come and go."""
    __tablename__ = "amphora_member_port"
    amphora_id: Mapped[str] = mapped_column(ForeignKey("amphora.id"), primary_key=True)
    subnet_id: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)
    slot: Mapped[int] = mapped_column(Integer)
    ip_address: Mapped[str] = mapped_column(String(64))
    __table_args__ = (UniqueConstraint("amphora_id", "slot"),)


class IpAllocation(Base):
    """An address in use on a configured subnet, and what holds it (see db/ipam.py).

    Every holder (a VIP, an additional VIP, the VRRP address of an amphora of a pair,
    an amphora's port on a member subnet) writes its row in the transaction that
    stores the address and deletes it in the one that frees it: the primary key lets
    exactly one transaction have an address, whatever the database."""
    __tablename__ = "ip_allocation"
    subnet_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ip_address: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_kind: Mapped[str] = mapped_column(String(16))  # ipam.OWNER_KINDS
    owner_id: Mapped[str] = mapped_column(ID, index=True)  # load balancer or amphora id


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


class AdditionalVip(Base):
    __tablename__ = "additional_vip"
    load_balancer_id: Mapped[str] = mapped_column(ForeignKey("load_balancer.id"),
                                                  primary_key=True)
    subnet_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    network_id: Mapped[str] = mapped_column(String(36))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    port_id: Mapped[str] = mapped_column(String(36), default=new_id)
    __table_args__ = (UniqueConstraint("subnet_id", "ip_address"),)


class L7Policy(_Named, Base):
    __tablename__ = "l7policy"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    listener_id: Mapped[str] = mapped_column(ForeignKey("listener.id"), index=True)
    action: Mapped[str] = mapped_column(String(36))
    redirect_pool_id: Mapped[str | None] = mapped_column(ForeignKey("pool.id"))
    redirect_url: Mapped[str | None] = mapped_column(String(2048))
    redirect_prefix: Mapped[str | None] = mapped_column(String(2048))
    redirect_http_code: Mapped[int | None] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)

    listener: Mapped[Listener] = relationship(back_populates="l7policies")
    redirect_pool: Mapped[Pool | None] = relationship()
    rules: Mapped[list["L7Rule"]] = relationship(back_populates="l7policy",
                                                 cascade="all, delete-orphan")


class L7Rule(_Named, Base):
    __tablename__ = "l7rule"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    l7policy_id: Mapped[str] = mapped_column(ForeignKey("l7policy.id"), index=True)
    type: Mapped[str] = mapped_column(String(36))
    compare_type: Mapped[str] = mapped_column(String(36))
    key: Mapped[str | None] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(255))
    invert: Mapped[bool] = mapped_column(Boolean, default=False)

    l7policy: Mapped[L7Policy] = relationship(back_populates="rules")


class Quota(Base):
    """Per-project limits; NULL means the configured default, -1 unlimited."""
    __tablename__ = "quota"
    project_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    load_balancer: Mapped[int | None] = mapped_column(Integer)
    listener: Mapped[int | None] = mapped_column(Integer)
    pool: Mapped[int | None] = mapped_column(Integer)
    health_monitor: Mapped[int | None] = mapped_column(Integer)
    member: Mapped[int | None] = mapped_column(Integer)
    l7policy: Mapped[int | None] = mapped_column(Integer)
    l7rule: Mapped[int | None] = mapped_column(Integer)


class FlavorProfile(Base):
    __tablename__ = "flavor_profile"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    provider_name: Mapped[str] = mapped_column(String(255))
    flavor_data: Mapped[str] = mapped_column(Text)


class Flavor(Base):
    __tablename__ = "flavor"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    flavor_profile_id: Mapped[str] = mapped_column(ForeignKey("flavor_profile.id"))

    flavor_profile: Mapped[FlavorProfile] = relationship()


class AvailabilityZoneProfile(Base):
    __tablename__ = "availability_zone_profile"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    provider_name: Mapped[str] = mapped_column(String(255))
    availability_zone_data: Mapped[str] = mapped_column(Text)


class AvailabilityZone(Base):
    __tablename__ = "availability_zone"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    description: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    availability_zone_profile_id: Mapped[str] = mapped_column(
        ForeignKey("availability_zone_profile.id"))

    availability_zone_profile: Mapped[AvailabilityZoneProfile] = relationship()


class ApiToken(Base):
    """API tokens for `auth_strategy = "token"`; only a SHA-256 of the secret is kept."""
    __tablename__ = "api_token"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str | None] = mapped_column(String(255))
    project_id: Mapped[str | None] = mapped_column(String(36))
    user_id: Mapped[str | None] = mapped_column(String(255))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Secret(Base):
    """A stored TLS secret (PKCS#12 bundle, PEM certificate, CA or CRL).

    The API serves these under a Barbican-compatible /v1/secrets so that listener and
    pool `*_container_ref` fields can name them on hosts without Barbican. The payload
    is encrypted at rest (Fernet, key in data_dir)."""
    __tablename__ = "secret"
    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    project_id: Mapped[str | None] = mapped_column(String(36), index=True)
    creator_id: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    secret_type: Mapped[str] = mapped_column(String(32), default="opaque")
    algorithm: Mapped[str | None] = mapped_column(String(255))
    bit_length: Mapped[int | None] = mapped_column(Integer)
    mode: Mapped[str | None] = mapped_column(String(255))
    payload_content_type: Mapped[str | None] = mapped_column(String(255))
    encrypted_payload: Mapped[str | None] = mapped_column(Text)
    expiration: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, onupdate=utcnow)
