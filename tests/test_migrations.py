"""Does `flask db upgrade` on an empty database build exactly what the models say?"""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.extensions import db


def test_migrations_and_models_agree(app):
    """The database built by the migrations has no difference from the models."""
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, db.metadata)
    assert diffs == []


def test_the_migrations_have_one_head(app):
    """No two migrations claim to be the latest."""
    from alembic.script import ScriptDirectory
    from flask_migrate import Migrate

    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
        assert len(ScriptDirectory.from_config(config).get_heads()) == 1
    assert isinstance(app.extensions["migrate"].migrate, Migrate)


def test_upgrading_a_database_that_has_data_keeps_it(tmp_path):
    """An install at 0002 with lockers and a rental upgrades, and the rental holds its locker.

    SQLite rebuilds tables to alter them, which foreign keys forbid once rows refer
    to each other; an empty database would never show it.
    """
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from app import create_app
    from tests.conftest import config_for

    url = f"sqlite:///{tmp_path / 'old-install.sqlite'}"
    app = create_app(config_for(url))
    with app.app_context():
        upgrade(revision="0002")
        with db.engine.begin() as conn:
            for statement in (
                "INSERT INTO branch (id, name, code, timezone, is_active, created_at, updated_at)"
                " VALUES (1, 'Dhanmondi', 'DHN', 'Asia/Dhaka', 1, '2026-01-01', '2026-01-01')",
                "INSERT INTO floor (id, branch_id, name, level, created_at, updated_at)"
                " VALUES (1, 1, 'Ground', 0, '2026-01-01', '2026-01-01')",
                "INSERT INTO zone (id, branch_id, floor_id, name, kind, created_at, updated_at)"
                " VALUES (1, 1, 1, 'Men', 'MEN', '2026-01-01', '2026-01-01')",
                "INSERT INTO locker (id, branch_id, zone_id, number, size, status, created_at,"
                " updated_at) VALUES (1, 1, 1, 'M-001', 'MEDIUM', 'ASSIGNED', '2026-01-01',"
                " '2026-01-01')",
                "INSERT INTO client (id, branch_id, full_name, phone, preferred_language,"
                " opt_in_email, opt_in_sms, opt_in_whatsapp, status, registered_at, created_at,"
                " updated_at) VALUES (1, 1, 'Karim', '+8801711123456', 'BENGALI', 1, 1, 0,"
                " 'ACTIVE', '2026-01-01', '2026-01-01', '2026-01-01')",
                "INSERT INTO rental (id, branch_id, locker_id, client_id, term, days, starts_at,"
                " ends_at, status, price_poisha, created_at, updated_at) VALUES (1, 1, 1, 1,"
                " 'MONTHLY', 30, '2026-01-01', '2026-01-31', 'ACTIVE', 80000, '2026-01-01',"
                " '2026-01-01')",
            ):
                conn.execute(sa.text(statement))
        upgrade()
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT holding_locker_id FROM rental")).scalar() == 1
            assert conn.execute(sa.text("SELECT needs_rekey FROM locker")).scalar() == 0
            assert conn.execute(sa.text("PRAGMA foreign_key_check")).all() == []
        db.engine.dispose()


def test_no_migration_imports_application_code():
    """Can the code move without breaking an old migration? Migrations import only libraries."""
    import ast
    from pathlib import Path

    ours = {"app", "admin_views", "jobs", "tests"}
    offenders = []
    for path in sorted((Path(__file__).parent.parent / "migrations").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.name}: {name}" for name in names if name.split(".")[0] in ours]
    assert offenders == []
