"""TLS fields of listeners and pools, allowed_cidrs, amphora VRRP fields, secrets

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

REF = sa.String(length=255)


def upgrade() -> None:
    with op.batch_alter_table('listener') as t:
        t.add_column(sa.Column('default_tls_container_ref', REF, nullable=True))
        t.add_column(sa.Column('sni_container_refs', sa.JSON(), nullable=False,
                               server_default='[]'))
        t.add_column(sa.Column('client_authentication', sa.String(length=16), nullable=False,
                               server_default='NONE'))
        t.add_column(sa.Column('client_ca_tls_container_ref', REF, nullable=True))
        t.add_column(sa.Column('client_crl_container_ref', REF, nullable=True))
        t.add_column(sa.Column('tls_ciphers', sa.String(length=2048), nullable=True))
        t.add_column(sa.Column('tls_versions', sa.JSON(), nullable=True))
        t.add_column(sa.Column('alpn_protocols', sa.JSON(), nullable=True))
        t.add_column(sa.Column('hsts_max_age', sa.Integer(), nullable=True))
        t.add_column(sa.Column('hsts_include_subdomains', sa.Boolean(), nullable=False,
                               server_default=sa.false()))
        t.add_column(sa.Column('hsts_preload', sa.Boolean(), nullable=False,
                               server_default=sa.false()))
        t.add_column(sa.Column('allowed_cidrs', sa.JSON(), nullable=True))
    # The server defaults only fill existing rows; the models set these values.
    with op.batch_alter_table('listener') as t:
        for col in ('sni_container_refs', 'client_authentication', 'hsts_include_subdomains',
                    'hsts_preload'):
            t.alter_column(col, server_default=None)
    with op.batch_alter_table('pool') as t:
        t.add_column(sa.Column('tls_container_ref', REF, nullable=True))
        t.add_column(sa.Column('ca_tls_container_ref', REF, nullable=True))
        t.add_column(sa.Column('crl_container_ref', REF, nullable=True))
        t.add_column(sa.Column('tls_ciphers', sa.String(length=2048), nullable=True))
        t.add_column(sa.Column('tls_versions', sa.JSON(), nullable=True))
        t.add_column(sa.Column('alpn_protocols', sa.JSON(), nullable=True))
    with op.batch_alter_table('amphora') as t:
        t.add_column(sa.Column('vrrp_interface', sa.String(length=16), nullable=True))
        t.add_column(sa.Column('vrrp_id', sa.Integer(), nullable=True))
        t.add_column(sa.Column('vrrp_priority', sa.Integer(), nullable=True))
    op.create_table('secret',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=36), nullable=True),
    sa.Column('creator_id', sa.String(length=255), nullable=True),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('secret_type', sa.String(length=32), nullable=False),
    sa.Column('algorithm', sa.String(length=255), nullable=True),
    sa.Column('bit_length', sa.Integer(), nullable=True),
    sa.Column('mode', sa.String(length=255), nullable=True),
    sa.Column('payload_content_type', sa.String(length=255), nullable=True),
    sa.Column('encrypted_payload', sa.Text(), nullable=True),
    sa.Column('expiration', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_secret'))
    )
    op.create_index(op.f('ix_secret_project_id'), 'secret', ['project_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_secret_project_id'), table_name='secret')
    op.drop_table('secret')
    with op.batch_alter_table('amphora') as t:
        for col in ('vrrp_priority', 'vrrp_id', 'vrrp_interface'):
            t.drop_column(col)
    with op.batch_alter_table('pool') as t:
        for col in ('alpn_protocols', 'tls_versions', 'tls_ciphers', 'crl_container_ref',
                    'ca_tls_container_ref', 'tls_container_ref'):
            t.drop_column(col)
    with op.batch_alter_table('listener') as t:
        for col in ('allowed_cidrs', 'hsts_preload', 'hsts_include_subdomains', 'hsts_max_age',
                    'alpn_protocols', 'tls_versions', 'tls_ciphers', 'client_crl_container_ref',
                    'client_ca_tls_container_ref', 'client_authentication',
                    'sni_container_refs', 'default_tls_container_ref'):
            t.drop_column(col)
