"""ip_allocation: one row per address in use on a configured subnet

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08

Filled from the rows that held the addresses until now: VIPs, additional VIPs, the
VRRP addresses of the amphorae of ACTIVE_STANDBY pairs that are not DELETED (on their
load balancer's VIP subnet) and the amphorae's member ports. Should two of them hold
the same address (the race this table ends), the first in that order keeps it and
the others are logged: fail the amphora over to give it an address of its own.
"""
import logging

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

LOG = logging.getLogger(f"alembic.migration.{revision}")


def upgrade() -> None:
    allocation = op.create_table('ip_allocation',
    sa.Column('subnet_id', sa.String(length=36), nullable=False),
    sa.Column('ip_address', sa.String(length=64), nullable=False),
    sa.Column('owner_kind', sa.String(length=16), nullable=False),
    sa.Column('owner_id', sa.String(length=36), nullable=False),
    sa.PrimaryKeyConstraint('subnet_id', 'ip_address', name=op.f('pk_ip_allocation'))
    )
    op.create_index(op.f('ix_ip_allocation_owner_id'), 'ip_allocation', ['owner_id'],
                    unique=False)
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for kind, query in _holders():
        for subnet_id, address, owner_id in op.get_bind().execute(query):
            row = rows.setdefault((subnet_id, address), {
                'subnet_id': subnet_id, 'ip_address': address, 'owner_kind': kind,
                'owner_id': owner_id})
            if (row['owner_kind'], row['owner_id']) != (kind, owner_id):
                LOG.warning("%s %s of %s is also held by %s %s; not recorded for the "
                            "former", kind, address, owner_id, row['owner_kind'],
                            row['owner_id'])
    if rows:
        op.bulk_insert(allocation, list(rows.values()))


def _holders() -> list[tuple[str, sa.Select]]:
    """(owner kind, query of (subnet, address, owner id)), the first kind first."""
    vip = sa.table('vip', sa.column('load_balancer_id'), sa.column('subnet_id'),
                   sa.column('ip_address'))
    extra = sa.table('additional_vip', sa.column('load_balancer_id'), sa.column('subnet_id'),
                     sa.column('ip_address'))
    amphora = sa.table('amphora', sa.column('id'), sa.column('load_balancer_id'),
                       sa.column('vrrp_ip'), sa.column('role'), sa.column('status'),
                       sa.column('created_at'))
    port = sa.table('amphora_member_port', sa.column('amphora_id'), sa.column('subnet_id'),
                    sa.column('ip_address'))
    return [
        ('vip', sa.select(vip.c.subnet_id, vip.c.ip_address, vip.c.load_balancer_id)
         .where(vip.c.ip_address.is_not(None)).order_by(vip.c.load_balancer_id)),
        ('additional_vip', sa.select(extra.c.subnet_id, extra.c.ip_address,
                                     extra.c.load_balancer_id)
         .where(extra.c.ip_address.is_not(None))
         .order_by(extra.c.load_balancer_id, extra.c.subnet_id)),
        # A STANDALONE amphora's vrrp_ip is its load balancer's VIP: not its own.
        ('vrrp', sa.select(vip.c.subnet_id, amphora.c.vrrp_ip, amphora.c.id)
         .join(vip, vip.c.load_balancer_id == amphora.c.load_balancer_id)
         .where(amphora.c.vrrp_ip.is_not(None), amphora.c.status != 'DELETED',
                amphora.c.role.in_(('MASTER', 'BACKUP')))
         .order_by(amphora.c.created_at, amphora.c.id)),
        ('member_port', sa.select(port.c.subnet_id, port.c.ip_address, port.c.amphora_id)
         .order_by(port.c.amphora_id, port.c.subnet_id)),
    ]


def downgrade() -> None:
    op.drop_index(op.f('ix_ip_allocation_owner_id'), table_name='ip_allocation')
    op.drop_table('ip_allocation')
