"""Command-line tasks: `flask serve`, `flask worker`, `flask demo-data`, `flask create-admin`,
`flask backup create|list|verify|restore`, `flask count-days`,
and rotating the sign-in secrets."""

import sys
from pathlib import Path
from urllib.parse import urlsplit

import click
from flask import Blueprint
from flask import current_app
from flask_security import hash_password

from app.config import PROJECT_ROOT
from app.extensions import db
from app.extensions import rq
from app.extensions import security
from app.models import User
from app.services import backups
from app.services import client_search
from app.services import day_figures
from app.services import demo
from app.services import login_secrets
from app.services import message_templates
from app.services import secret_box
from app.services import settings
from app.services.access import SUPER_ADMIN
from app.services.access import ensure_default_roles
from app.services.supervisor import Child
from app.services.supervisor import RedisPing
from app.services.supervisor import Supervisor

bp = Blueprint("cli", __name__, cli_group=None)


@bp.cli.command("seed")
def seed():
    """Create the four staff roles, the default settings and message templates if missing."""
    ensure_default_roles()
    settings.ensure_defaults()
    message_templates.install_defaults()
    keyed = client_search.write_missing_keys()
    if keyed:
        click.echo(f"Search keys written for {keyed} clients.")
    click.echo("Roles, settings and message templates ready.")


@bp.cli.command("demo-data")
@click.option("--lockers", default=300, show_default=True, help="Number of lockers.")
@click.option("--clients", default=800, show_default=True, help="Number of clients.")
@click.option("--years", default=1, show_default=True, help="Years of rental history.")
@click.option("--if-empty", is_flag=True, help="Do nothing when staff accounts already exist.")
@click.option("--seed", default=2026, show_default=True, help="Random seed (same seed, same data).")
def demo_data(lockers, clients, years, if_empty, seed):
    """Load a demo branch with lockers, clients, rentals, payments and four staff users."""
    if if_empty and db.session.execute(db.select(User.id).limit(1)).first():
        click.echo("Demo data skipped: the database already has staff accounts.")
        return
    summary = demo.load_demo_data(lockers=lockers, clients=clients, years=years, seed=seed)
    click.echo(
        "Demo data loaded: {lockers} lockers, {clients} clients, {rentals} rentals, "
        "{payments} payments. Staff logins (password {password}): {emails}".format(**summary)
    )


@bp.cli.command("create-admin")
@click.option("--email", prompt=True, help="The Super Admin's email (their login).")
@click.option("--name", prompt="Full name", help="The Super Admin's full name.")
@click.password_option(help="At least 10 characters and not easy to guess.")
def create_admin(email, name, password):
    """Create a Super Admin for a real install."""
    ensure_default_roles()
    problems, password = security.password_util.validate(password, True, email=email)
    if problems:
        raise click.ClickException(" ".join(str(p) for p in problems))
    if security.datastore.find_user(email=email):
        raise click.ClickException(f"A user with email {email} already exists.")
    user = security.datastore.create_user(
        email=email, full_name=name, password=hash_password(password), roles=[SUPER_ADMIN],
        locale=current_app.config["BABEL_DEFAULT_LOCALE"],
    )
    db.session.commit()
    click.echo(f"Super Admin {user.email} created.")


@bp.cli.command("worker")
@click.option("--queues", default=None, help="Comma-separated queues (default: all).")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def worker(queues, burst):
    """Run an RQ worker whose jobs run inside this app's context."""
    from rq import Worker

    from app.extensions import AppContextJob

    names = queues.split(",") if queues else list(current_app.config["RQ_QUEUES"])
    # Connections opened before the fork must not be shared with the job's process.
    db.engine.dispose()
    Worker([rq.queue(name) for name in names], connection=rq.connection,
           job_class=AppContextJob).work(burst=burst, with_scheduler=True)


@bp.cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--web-workers", default=2, show_default=True, help="gunicorn processes.")
def serve(host, port, web_workers):
    """Run the desk: gunicorn, one RQ worker and rq cron. Ctrl-C stops them all.

    The web keeps serving whatever happens to Redis; the worker and cron run
    while Redis answers and are restarted with back-off (app.services.supervisor).
    /healthz shows what the supervisor sees.
    """
    bin_dir = Path(sys.executable).parent
    redis_url = current_app.config["REDIS_URL"]
    children = [
        Child("web", [str(bin_dir / "gunicorn"), "--workers", str(web_workers),
                      "--bind", f"{host}:{port}", "--access-logfile", "-", "wsgi:app"],
              essential=True),
        Child("worker", [sys.executable, "-m", "flask", "worker"], needs_redis=True),
        Child("cron", [str(bin_dir / "rq"), "cron", "--url", redis_url, "--path",
                       str(PROJECT_ROOT), str(PROJECT_ROOT / "jobs" / "schedule.py")],
              needs_redis=True),
    ]
    colours = {"info": "cyan", "output": None, "warning": "yellow", "error": "red"}

    def say(text, level="info"):
        click.secho(text, fg=colours[level])

    # Never print the Redis password on the desk PC's screen.
    parts = urlsplit(redis_url)
    redis_label = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    click.echo(f"Locker desk is running on http://{host}:{port} (web, worker, cron)."
               " Press Ctrl-C to stop.")
    with RedisPing(redis_url) as redis_ping:
        code = Supervisor(children, redis_available=redis_ping, say=say, cwd=PROJECT_ROOT,
                          status_file=Path(current_app.instance_path) / f"serve-{port}.json",
                          redis_label=redis_label).run()
    sys.exit(code)


@bp.cli.command("rotate-secret-key")
def rotate_secret_key():
    """Write a new instance/secret_key: everyone signs in again; passwords stay."""
    try:
        path = login_secrets.rotate_secret_key()
    except login_secrets.SecretFromEnvironment as exc:
        raise click.ClickException(f"{exc} is set in the environment: change it there.") from exc
    click.echo(f"New secret key in {path}. Restart the desk; everyone signs in again.")


@bp.cli.command("rotate-totp-key")
def rotate_totp_key():
    """Add a new two-factor key and re-encrypt every enrolled authenticator with it."""
    try:
        count = login_secrets.rotate_totp_key()
    except login_secrets.SecretFromEnvironment as exc:
        raise click.ClickException(
            f"{exc} comes from the environment: add a new key there.") from exc
    click.echo(f"Two-factor key rotated; {count} authenticator secret(s) re-encrypted."
               " Restart the desk on every host.")


@bp.cli.command("rotate-settings-key")
def rotate_settings_key():
    """Add a new key for the secrets in the settings and re-encrypt every one of them with it."""
    try:
        count = secret_box.rotate(settings.reseal_secrets)
    except login_secrets.SecretFromEnvironment as exc:
        raise click.ClickException(
            f"{exc} comes from the environment: put a new key first there.") from exc
    click.echo(f"Settings key rotated; {count} secret(s) re-encrypted.")


@bp.cli.command("count-days")
@click.option("--branch", "branch_id", type=int, help="Only this branch (its id).")
def count_days(branch_id):
    """Count the days that are over for the reports, until done (the worker does it every ten minutes)."""
    done = day_figures.count_days(branch_id)
    click.echo("Every day that is over is counted." if done else "Counting stopped early.")


backup_cli = click.Group("backup", help="Back up the database and uploads; list and check archives.")
bp.cli.add_command(backup_cli)


@backup_cli.command("create")
def backup_create():
    """Make a verified archive now (into BACKUP_DIR)."""
    try:
        made = backups.create(reason="command line")
    except backups.BackupError as exc:
        raise click.ClickException(str(exc.message)) from exc
    click.echo(f"{made.path} ({made.size} bytes, {made.rows} rows, "
               f"{len(made.manifest['files'])} files)")


@backup_cli.command("list")
def backup_list():
    """The finished archives, newest first."""
    for backup in backups.all_backups():
        manifest = backup.manifest
        click.echo(f"{backup.name}  {manifest['created_at']}  {manifest['database']}  "
                   f"revision {manifest['schema_revision']}  {backup.rows} rows  "
                   f"{backup.size} bytes")


@backup_cli.command("verify")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def backup_verify(archive):
    """Read an archive back and check every file against its manifest."""
    try:
        manifest = backups.verify(archive)
    except backups.BackupError as exc:
        raise click.ClickException(str(exc.message)) from exc
    click.echo(f"{archive.name} is complete: {len(manifest['files'])} files match their "
               f"checksums (schema revision {manifest['schema_revision']}).")


@backup_cli.command("restore")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def backup_restore(name, yes):
    """Put the database and uploads back as they were in archive NAME (backed up first)."""
    if not yes:
        click.confirm(f"Replace the whole database and the uploads with {name}?", abort=True)
    try:
        safety = backups.restore(name)
    except backups.BackupError as exc:
        raise click.ClickException(str(exc.message)) from exc
    click.echo(f"Restored from {name}. The state it replaced is kept as {safety.name}.")
