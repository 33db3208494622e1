"""Amphora ports on member subnets

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('amphora_member_port',
    sa.Column('amphora_id', sa.String(length=36), nullable=False),
    sa.Column('subnet_id', sa.String(length=36), nullable=False),
    sa.Column('slot', sa.Integer(), nullable=False),
    sa.Column('ip_address', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['amphora_id'], ['amphora.id'],
                            name=op.f('fk_amphora_member_port_amphora_id_amphora')),
    sa.PrimaryKeyConstraint('amphora_id', 'subnet_id', name=op.f('pk_amphora_member_port')),
    sa.UniqueConstraint('amphora_id', 'slot', name=op.f('uq_amphora_member_port_amphora_id_slot'))
    )
    op.create_index(op.f('ix_amphora_member_port_subnet_id'), 'amphora_member_port',
                    ['subnet_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_amphora_member_port_subnet_id'), table_name='amphora_member_port')
    op.drop_table('amphora_member_port')
