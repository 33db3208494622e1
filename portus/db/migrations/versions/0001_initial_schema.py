"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('amphora_health',
    sa.Column('amphora_id', sa.String(length=36), nullable=False),
    sa.Column('last_update', sa.Double(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('busy', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('amphora_id', name=op.f('pk_amphora_health'))
    )
    op.create_table('api_token',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('project_id', sa.String(length=36), nullable=True),
    sa.Column('user_id', sa.String(length=255), nullable=True),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_token_token_hash'))
    )
    op.create_table('availability_zone_profile',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('provider_name', sa.String(length=255), nullable=False),
    sa.Column('availability_zone_data', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_availability_zone_profile'))
    )
    op.create_table('flavor_profile',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('provider_name', sa.String(length=255), nullable=False),
    sa.Column('flavor_data', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flavor_profile'))
    )
    op.create_table('listener_statistics',
    sa.Column('listener_id', sa.String(length=36), nullable=False),
    sa.Column('amphora_id', sa.String(length=36), nullable=False),
    sa.Column('bytes_in', sa.BigInteger(), nullable=False),
    sa.Column('bytes_out', sa.BigInteger(), nullable=False),
    sa.Column('active_connections', sa.Integer(), nullable=False),
    sa.Column('total_connections', sa.BigInteger(), nullable=False),
    sa.Column('request_errors', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('listener_id', 'amphora_id', name=op.f('pk_listener_statistics'))
    )
    op.create_table('load_balancer',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('provider', sa.String(length=64), nullable=False),
    sa.Column('topology', sa.String(length=16), nullable=False),
    sa.Column('flavor_id', sa.String(length=36), nullable=True),
    sa.Column('availability_zone', sa.String(length=255), nullable=True),
    sa.Column('desired_generation', sa.Integer(), nullable=False),
    sa.Column('applied_generation', sa.Integer(), nullable=False),
    sa.Column('lease_owner', sa.String(length=255), nullable=True),
    sa.Column('lease_expires', sa.Double(), nullable=True),
    sa.Column('converge_attempts', sa.Integer(), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.Column('project_id', sa.String(length=36), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('provisioning_status', sa.String(length=16), nullable=False),
    sa.Column('operating_status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_load_balancer'))
    )
    with op.batch_alter_table('load_balancer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_load_balancer_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_load_balancer_provisioning_status'), ['provisioning_status'], unique=False)

    op.create_table('quota',
    sa.Column('project_id', sa.String(length=36), nullable=False),
    sa.Column('load_balancer', sa.Integer(), nullable=True),
    sa.Column('listener', sa.Integer(), nullable=True),
    sa.Column('pool', sa.Integer(), nullable=True),
    sa.Column('health_monitor', sa.Integer(), nullable=True),
    sa.Column('member', sa.Integer(), nullable=True),
    sa.Column('l7policy', sa.Integer(), nullable=True),
    sa.Column('l7rule', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('project_id', name=op.f('pk_quota'))
    )
    op.create_table('tag',
    sa.Column('resource_id', sa.String(length=36), nullable=False),
    sa.Column('tag', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('resource_id', 'tag', name=op.f('pk_tag'))
    )
    with op.batch_alter_table('tag', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tag_tag'), ['tag'], unique=False)

    op.create_table('additional_vip',
    sa.Column('load_balancer_id', sa.String(length=36), nullable=False),
    sa.Column('subnet_id', sa.String(length=36), nullable=False),
    sa.Column('network_id', sa.String(length=36), nullable=False),
    sa.Column('ip_address', sa.String(length=64), nullable=True),
    sa.Column('port_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['load_balancer_id'], ['load_balancer.id'], name=op.f('fk_additional_vip_load_balancer_id_load_balancer')),
    sa.PrimaryKeyConstraint('load_balancer_id', 'subnet_id', name=op.f('pk_additional_vip')),
    sa.UniqueConstraint('subnet_id', 'ip_address', name=op.f('uq_additional_vip_subnet_id_ip_address'))
    )
    op.create_table('amphora',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('load_balancer_id', sa.String(length=36), nullable=True),
    sa.Column('compute_id', sa.String(length=255), nullable=True),
    sa.Column('lb_network_ip', sa.String(length=64), nullable=True),
    sa.Column('vrrp_ip', sa.String(length=64), nullable=True),
    sa.Column('ha_ip', sa.String(length=64), nullable=True),
    sa.Column('vrrp_port_id', sa.String(length=36), nullable=True),
    sa.Column('ha_port_id', sa.String(length=36), nullable=True),
    sa.Column('role', sa.String(length=36), nullable=True),
    sa.Column('status', sa.String(length=36), nullable=False),
    sa.Column('cert_expiration', sa.DateTime(), nullable=True),
    sa.Column('cert_busy', sa.Boolean(), nullable=False),
    sa.Column('applied_generation', sa.Integer(), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['load_balancer_id'], ['load_balancer.id'], name=op.f('fk_amphora_load_balancer_id_load_balancer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_amphora')),
    sa.UniqueConstraint('lb_network_ip', name=op.f('uq_amphora_lb_network_ip'))
    )
    with op.batch_alter_table('amphora', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_amphora_load_balancer_id'), ['load_balancer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_amphora_status'), ['status'], unique=False)

    op.create_table('availability_zone',
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('availability_zone_profile_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['availability_zone_profile_id'], ['availability_zone_profile.id'], name=op.f('fk_availability_zone_availability_zone_profile_id_availability_zone_profile')),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_availability_zone'))
    )
    op.create_table('flavor',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('flavor_profile_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['flavor_profile_id'], ['flavor_profile.id'], name=op.f('fk_flavor_flavor_profile_id_flavor_profile')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flavor')),
    sa.UniqueConstraint('name', name=op.f('uq_flavor_name'))
    )
    op.create_table('listener',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('load_balancer_id', sa.String(length=36), nullable=False),
    sa.Column('protocol', sa.String(length=32), nullable=False),
    sa.Column('protocol_port', sa.Integer(), nullable=False),
    sa.Column('l4_family', sa.String(length=8), nullable=False),
    sa.Column('connection_limit', sa.Integer(), nullable=False),
    sa.Column('default_pool_id', sa.String(length=36), nullable=True),
    sa.Column('timeout_client_data', sa.Integer(), nullable=True),
    sa.Column('timeout_member_connect', sa.Integer(), nullable=True),
    sa.Column('timeout_member_data', sa.Integer(), nullable=True),
    sa.Column('timeout_tcp_inspect', sa.Integer(), nullable=True),
    sa.Column('insert_headers', sa.JSON(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.Column('project_id', sa.String(length=36), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('provisioning_status', sa.String(length=16), nullable=False),
    sa.Column('operating_status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['load_balancer_id'], ['load_balancer.id'], name=op.f('fk_listener_load_balancer_id_load_balancer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_listener')),
    sa.UniqueConstraint('load_balancer_id', 'protocol_port', 'l4_family', name=op.f('uq_listener_load_balancer_id_protocol_port_l4_family'))
    )
    with op.batch_alter_table('listener', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_listener_load_balancer_id'), ['load_balancer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_listener_project_id'), ['project_id'], unique=False)

    op.create_table('pool',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('load_balancer_id', sa.String(length=36), nullable=False),
    sa.Column('protocol', sa.String(length=32), nullable=False),
    sa.Column('lb_algorithm', sa.String(length=32), nullable=False),
    sa.Column('session_persistence', sa.JSON(), nullable=True),
    sa.Column('tls_enabled', sa.Boolean(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.Column('project_id', sa.String(length=36), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('provisioning_status', sa.String(length=16), nullable=False),
    sa.Column('operating_status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['load_balancer_id'], ['load_balancer.id'], name=op.f('fk_pool_load_balancer_id_load_balancer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pool'))
    )
    with op.batch_alter_table('pool', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pool_load_balancer_id'), ['load_balancer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pool_project_id'), ['project_id'], unique=False)

    op.create_table('vip',
    sa.Column('load_balancer_id', sa.String(length=36), nullable=False),
    sa.Column('ip_address', sa.String(length=64), nullable=True),
    sa.Column('subnet_id', sa.String(length=36), nullable=False),
    sa.Column('network_id', sa.String(length=36), nullable=False),
    sa.Column('port_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['load_balancer_id'], ['load_balancer.id'], name=op.f('fk_vip_load_balancer_id_load_balancer')),
    sa.PrimaryKeyConstraint('load_balancer_id', name=op.f('pk_vip')),
    sa.UniqueConstraint('subnet_id', 'ip_address', name=op.f('uq_vip_subnet_id_ip_address'))
    )
    op.create_table('health_monitor',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('pool_id', sa.String(length=36), nullable=False),
    sa.Column('type', sa.String(length=36), nullable=False),
    sa.Column('delay', sa.Integer(), nullable=False),
    sa.Column('timeout', sa.Integer(), nullable=False),
    sa.Column('rise_threshold', sa.Integer(), nullable=False),
    sa.Column('fall_threshold', sa.Integer(), nullable=False),
    sa.Column('http_method', sa.String(length=16), nullable=True),
    sa.Column('url_path', sa.String(length=2048), nullable=True),
    sa.Column('expected_codes', sa.String(length=64), nullable=True),
    sa.Column('http_version', sa.Float(), nullable=True),
    sa.Column('domain_name', sa.String(length=255), nullable=True),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.Column('project_id', sa.String(length=36), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('provisioning_status', sa.String(length=16), nullable=False),
    sa.Column('operating_status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['pool_id'], ['pool.id'], name=op.f('fk_health_monitor_pool_id_pool')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_health_monitor')),
    sa.UniqueConstraint('pool_id', name=op.f('uq_health_monitor_pool_id'))
    )
    with op.batch_alter_table('health_monitor', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_health_monitor_project_id'), ['project_id'], unique=False)

    op.create_table('l7policy',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('listener_id', sa.String(length=36), nullable=False),
    sa.Column('action', sa.String(length=36), nullable=False),
    sa.Column('redirect_pool_id', sa.String(length=36), nullable=True),
    sa.Column('redirect_url', sa.String(length=2048), nullable=True),
    sa.Column('redirect_prefix', sa.String(length=2048), nullable=True),
    sa.Column('redirect_http_code', sa.Integer(), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.Column('project_id', sa.String(length=36), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('provisioning_status', sa.String(length=16), nullable=False),
    sa.Column('operating_status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['listener_id'], ['listener.id'], name=op.f('fk_l7policy_listener_id_listener')),
    sa.ForeignKeyConstraint(['redirect_pool_id'], ['pool.id'], name=op.f('fk_l7policy_redirect_pool_id_pool')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_l7policy'))
    )
    with op.batch_alter_table('l7policy', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_l7policy_listener_id'), ['listener_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_l7policy_project_id'), ['project_id'], unique=False)

    op.create_table('member',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('pool_id', sa.String(length=36), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('protocol_port', sa.Integer(), nullable=False),
    sa.Column('weight', sa.Integer(), nullable=False),
    sa.Column('backup', sa.Boolean(), nullable=False),
    sa.Column('subnet_id', sa.String(length=36), nullable=True),
    sa.Column('monitor_address', sa.String(length=64), nullable=True),
    sa.Column('monitor_port', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.Column('project_id', sa.String(length=36), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('provisioning_status', sa.String(length=16), nullable=False),
    sa.Column('operating_status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['pool_id'], ['pool.id'], name=op.f('fk_member_pool_id_pool')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member')),
    sa.UniqueConstraint('pool_id', 'address', 'protocol_port', name=op.f('uq_member_pool_id_address_protocol_port'))
    )
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_member_pool_id'), ['pool_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_member_project_id'), ['project_id'], unique=False)

    op.create_table('l7rule',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('l7policy_id', sa.String(length=36), nullable=False),
    sa.Column('type', sa.String(length=36), nullable=False),
    sa.Column('compare_type', sa.String(length=36), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=True),
    sa.Column('value', sa.String(length=255), nullable=False),
    sa.Column('invert', sa.Boolean(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.Column('project_id', sa.String(length=36), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('provisioning_status', sa.String(length=16), nullable=False),
    sa.Column('operating_status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['l7policy_id'], ['l7policy.id'], name=op.f('fk_l7rule_l7policy_id_l7policy')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_l7rule'))
    )
    with op.batch_alter_table('l7rule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_l7rule_l7policy_id'), ['l7policy_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_l7rule_project_id'), ['project_id'], unique=False)

    # Listeners and pools point at each other; the listener -> pool key comes last.
    with op.batch_alter_table('listener', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_listener_default_pool_id_pool'), 'pool',
                                    ['default_pool_id'], ['id'])


def downgrade() -> None:
    # Dropping a table drops its indexes (dropping them first fails on MariaDB, which
    # needs them for foreign keys). Children go before what they point at.
    for table in ('l7rule', 'member', 'l7policy', 'health_monitor', 'vip', 'listener', 'pool',
                  'flavor', 'availability_zone', 'amphora', 'additional_vip', 'tag', 'quota',
                  'load_balancer', 'listener_statistics', 'flavor_profile',
                  'availability_zone_profile', 'api_token', 'amphora_health'):
        op.drop_table(table)
