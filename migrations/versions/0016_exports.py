"""Exports built by a worker: "My exports"

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 14:10:00

An export too large to build inside a request (the XLSX of 200,000 clients)
is written by a worker; this table is each user's list of them, with the
progress, the file and when it expires.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('export_file',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('branch_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=80), nullable=False),
    sa.Column('params', sa.Text(), nullable=True),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('status', sa.Enum('QUEUED', 'RUNNING', 'READY', 'FAILED', 'EXPIRED', name='exportstatus', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('rows_done', sa.Integer(), nullable=False),
    sa.Column('rows_expected', sa.Integer(), nullable=True),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('stored_as', sa.String(length=255), nullable=True),
    sa.Column('size_bytes', sa.BigInteger(), nullable=True),
    sa.Column('error', sa.String(length=255), nullable=True),
    sa.Column('requested_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['branch_id'], ['branch.id'], name=op.f('fk_export_file_branch_id_branch'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_export_file_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_export_file'))
    )
    with op.batch_alter_table('export_file', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_export_file_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index('ix_export_file_user_requested', ['user_id', 'requested_at'], unique=False)


def downgrade():
    with op.batch_alter_table('export_file', schema=None) as batch_op:
        batch_op.drop_index('ix_export_file_user_requested')
        batch_op.drop_index(batch_op.f('ix_export_file_expires_at'))
    op.drop_table('export_file')
