"""Django 5.2's stock admin over Locker desk's database, read-only: the peer `make bench` compares with.

    from bench.peer import start_django_peer, login

    base_url, stop = start_django_peer("postgresql+psycopg://postgres@127.0.0.1:5432/bench_chain", 8001)
    try:
        session = requests.Session()
        login(session, base_url)                     # superuser bench / PEER_PASSWORD
        session.get(f"{base_url}/admin/gym/client/?q=Tahmina+Khan")
    finally:
        stop()

    # or by hand, to look at it in a browser (Ctrl-C stops it):
    .venv/bin/python -m bench.peer sqlite:////tmp/peer-dev/locker.sqlite --port 8001

`start_django_peer(database_url, port)` writes a throw-away Django project (a temporary
folder unless `workdir` is given) and serves it with gunicorn, 2 sync workers on
127.0.0.1:port, DEBUG off, as Locker desk is served (bench/pages.py):

1. `django-admin startproject peersite` and `startapp gym`, untouched but for a block
   appended to settings.py (_settings_block): two databases, `default` a small SQLite
   file of Django's own (auth, sessions, contenttypes, admin log), migrated, with the
   superuser `bench`; `gym` the database under test, taken from the SQLAlchemy URL
   Locker desk uses (sqlite, postgresql+psycopg, mysql/mariadb+pymysql).
2. `manage.py inspectdb --database gym <tables>` writes gym/models.py (managed=False): the
   tables our lists show plus every table their foreign keys reach (Django refuses a
   ForeignKey to a model it does not have). Then what a Django developer would fix by
   hand, from what Locker desk's models know (model_facts): `choices=` on the columns
   it stores enums in (otherwise a list_filter on them runs SELECT DISTINCT over the
   whole table on every page); a ForeignKey where SQLite's introspection made a
   OneToOneField of the first column of a two-column UNIQUE (locker.branch_id); and
   each model's __str__ as ours spells it, so foreign-key columns show the same text
   (gym_models_extra.py).
3. gym/router.py (bench/peer/gym_router.py) sends the gym models to `gym` and never
   migrates it; the connection is read-only on the database's side too (SQLite
   `PRAGMA query_only`, PostgreSQL `default_transaction_read_only`, MariaDB
   `SET SESSION TRANSACTION READ ONLY`).
4. gym/admin.py (bench/peer/gym_admin.py): one stock ModelAdmin per list, with
   list_display / search_fields / list_filter / ordering equivalent to ours.

Deliberate departures from a bare `startproject`, each one what a careful Django
deployment does, so the comparison is of the admins and not of a setting:
- CONN_MAX_AGE=60 with CONN_HEALTH_CHECKS (Django's default opens a new database
  connection per request; Locker desk keeps a SQLAlchemy pool with pre-ping).
- list_per_page = 50, Locker desk's page size (Django's default is 100).

MariaDB: Django's MySQL backend imports MySQLdb (mysqlclient, which needs a C build
against libmariadb). The peer uses PyMySQL instead, as Locker desk does:
`pymysql.install_as_MySQLdb()` in the settings block. Django 5.2 only checks that
MySQLdb.version_info >= (1, 4, 3), and PyMySQL 1.2.4 (requirements.txt) presents itself
as mysqlclient 2.2.8, so no version needs faking.

PostgreSQL: psycopg 3 (requirements.txt), which Django 5.2 uses directly. Our datetime
columns are `timestamp without time zone` holding UTC; on PostgreSQL Django hands them
to the templates naive, so the peer shows them in UTC there (in Dhaka time on SQLite
and MariaDB, where Django makes them aware itself). Display only; same rows, same work.

Django itself: bench/peer/requirements.txt (Django 5.2.19 and its two dependencies).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PEER_USER = "bench"
# Loopback only, on a throw-away SQLite file: not a secret.
PEER_PASSWORD = "Peer-Bench-2026!"
PROJECT = "peersite"
APP = "gym"
# What the compared lists show; inspectdb also gets every table their foreign keys reach.
LIST_TABLES = ("client", "rental", "payment", "invoice", "locker", "activity_log")
# Not reached by a foreign key from the lists but read by the invoice list's state (refunds).
EXTRA_TABLES = ("refund",)


def _python():
    return str(Path(sys.executable))


def free_port():
    """A TCP port nobody listens on now (bound and released at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- databases ------------------------------------------------------------------------

def django_database(database_url):
    """Django's DATABASES entry for a SQLAlchemy URL, opened read-only on the database's side."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ValueError(f"the peer needs a SQLite file, not {database_url!r}")
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(Path(url.database).resolve()),
                # Django 5.1+ runs these on each new connection.
                "OPTIONS": {"init_command": "PRAGMA query_only = 1"}}
    common = {"NAME": url.database, "USER": url.username or "", "PASSWORD": url.password or "",
              "HOST": url.host or "", "PORT": str(url.port or "")}
    if backend == "postgresql":
        if url.get_driver_name() not in ("psycopg", "psycopg2"):
            raise ValueError(f"unsupported PostgreSQL driver in {database_url!r}")
        # A libpq option: every transaction of the session is READ ONLY.
        return {**common, "ENGINE": "django.db.backends.postgresql",
                "OPTIONS": {"options": "-c default_transaction_read_only=on"}}
    if backend in ("mysql", "mariadb"):
        return {**common, "ENGINE": "django.db.backends.mysql",
                "OPTIONS": {"charset": url.query.get("charset", "utf8mb4"),
                            "init_command": "SET SESSION TRANSACTION READ ONLY"}}
    raise ValueError(f"unsupported database URL {database_url!r}")


def tables_to_inspect(database_url, wanted=LIST_TABLES + EXTRA_TABLES):
    """`wanted` and every table their foreign keys reach, transitively, in a stable order."""
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    try:
        inspector = sa.inspect(engine)
        seen, todo = set(), list(wanted)
        while todo:
            table = todo.pop()
            if table in seen:
                continue
            seen.add(table)
            todo.extend(fk["referred_table"] for fk in inspector.get_foreign_keys(table))
    finally:
        engine.dispose()
    return sorted(seen)


def model_facts():
    """What Locker desk's models (app.models) know and inspectdb cannot read from every database.

    {"choices": {"table.column": [stored names]}, "unique": {"table.column", ...}}:
    the enum columns' names (the CHECK constraints that hold the same lists are spelt
    differently on each database), plus "activity_log.model", the record types the log
    can name; and the columns unique on their own (SQLite's introspection takes the
    first column of a table-level UNIQUE (branch_id, number) for a unique column, and
    inspectdb then writes a OneToOneField).
    """
    import sqlalchemy as sa

    if str(ROOT) not in sys.path:  # run as a script from bench/, the app is one folder up
        sys.path.insert(0, str(ROOT))
    import app.models  # noqa: F401  (fills the metadata)
    from app.extensions import db

    choices, unique = {}, set()
    for table in db.Model.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, sa.Enum):
                choices[f"{table.name}.{column.name}"] = list(column.type.enums)
            if column.unique or column.primary_key:
                unique.add(f"{table.name}.{column.name}")
        for constraint in [*table.constraints, *(index for index in table.indexes if index.unique)]:
            columns = list(getattr(constraint, "columns", []))
            if isinstance(constraint, (sa.UniqueConstraint, sa.Index)) and len(columns) == 1:
                unique.add(f"{table.name}.{columns[0].name}")
    choices["activity_log.model"] = sorted(mapper.class_.__name__ for mapper in db.Model.registry.mappers)
    return {"choices": choices, "unique": unique}


# --- the project ------------------------------------------------------------------------

def _settings_block(database_url):
    """What is appended to startproject's settings.py."""
    gym = django_database(database_url)
    lines = [
        "",
        "# --- Locker desk bench peer (bench/peer/__init__.py) ---------------------------------",
    ]
    if gym["ENGINE"].endswith("mysql"):
        lines += [
            "# Django's MySQL backend imports MySQLdb; PyMySQL stands in for mysqlclient (no C build).",
            "import pymysql  # noqa: E402",
            "",
            "pymysql.install_as_MySQLdb()",
        ]
    lines += [
        "DEBUG = False",
        'ALLOWED_HOSTS = ["127.0.0.1"]',
        f'INSTALLED_APPS = [*INSTALLED_APPS, "{APP}"]',
        "DATABASES = {",
        '    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "django.sqlite3"},',
        f'    "gym": {json.dumps(gym)},',
        "}",
        "# Persistent connections, as any production Django; Locker desk keeps a pool too.",
        'for _database in DATABASES.values():',
        '    _database.update(CONN_MAX_AGE=60, CONN_HEALTH_CHECKS=True)',
        f'DATABASE_ROUTERS = ["{APP}.router.GymRouter"]',
        "# Every datetime column holds UTC without an offset; shown in the branch's time.",
        'TIME_ZONE = "Asia/Dhaka"',
        "USE_TZ = True",
        'DEFAULT_AUTO_FIELD = "django.db.models.AutoField"',
        "",
    ]
    return "\n".join(lines)


def _completed(models_source, facts):
    """inspectdb's models.py with `choices=` on the enum columns and the false one-to-ones undone."""
    import re

    field = re.compile(r"^    (\w+) = models\.(CharField|OneToOneField)\((.*)\)(.*)$")
    out, block = [], []

    def flush():
        table = next((re.search(r"db_table = '([^']+)'", line).group(1) for line in block
                      if "db_table = '" in line), None)
        for line in block:
            match = field.match(line)
            if table and match:
                name, kind, args, rest = match.groups()
                column = re.search(r"db_column='([^']+)'", args)
                column = column.group(1) if column else name + ("_id" if kind == "OneToOneField" else "")
                key = f"{table}.{column}"
                if kind == "CharField" and key in facts["choices"]:
                    args = ", ".join(filter(None, [args, f"choices=ENUM_CHOICES[{key!r}]"]))
                elif kind == "OneToOneField" and key not in facts["unique"]:
                    kind = "ForeignKey"
                line = f"    {name} = models.{kind}({args}){rest}"
            out.append(line)
        block.clear()

    for line in models_source.splitlines():
        if line.startswith("class "):
            flush()
        block.append(line)
    flush()
    source = "\n".join(out) + "\n"
    return source.replace("from django.db import models\n",
                          "from django.db import models\n\nfrom .enums import ENUM_CHOICES\n", 1)


def _manage(workdir, *args, env=None, capture=False):
    result = subprocess.run([_python(), "manage.py", *args], cwd=workdir, env=env,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout if capture else None


def build_project(workdir, database_url):
    """Write and prepare the peer project in `workdir` (which must be empty or absent)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    django_admin = [_python(), "-m", "django"]
    subprocess.run([*django_admin, "startproject", PROJECT, str(workdir)], check=True)
    subprocess.run([*django_admin, "startapp", APP], cwd=workdir, check=True)
    settings = workdir / PROJECT / "settings.py"
    settings.write_text(settings.read_text() + _settings_block(database_url))
    app_dir = workdir / APP
    shutil.copy(HERE / "gym_router.py", app_dir / "router.py")
    shutil.copy(HERE / "gym_admin.py", app_dir / "admin.py")
    facts = model_facts()
    (app_dir / "enums.py").write_text(
        '"""Stored enum names per "table.column", from Locker desk\'s models (bench/peer)."""\n\n'
        f"ENUM_CHOICES = {json.dumps(facts['choices'], indent=1)}\n"
        "ENUM_CHOICES = {key: [(name, name) for name in names] for key, names in ENUM_CHOICES.items()}\n")
    # inspectdb imports the app, whose admin imports the models it is about to write.
    (app_dir / "models.py").write_text("")
    (app_dir / "admin.py").rename(app_dir / "admin.py.wait")
    models = _manage(workdir, "inspectdb", "--database", "gym",
                     *tables_to_inspect(database_url), capture=True)
    (app_dir / "models.py").write_text(
        _completed(models, facts) + "\n" + (HERE / "gym_models_extra.py").read_text())
    (app_dir / "admin.py.wait").rename(app_dir / "admin.py")
    _manage(workdir, "check")
    _manage(workdir, "migrate", "--noinput", "-v", "0")
    _manage(workdir, "createsuperuser", "--noinput", "--username", PEER_USER,
            "--email", "bench@example.invalid",
            env={**os.environ, "DJANGO_SUPERUSER_PASSWORD": PEER_PASSWORD})
    return workdir


# --- serving -----------------------------------------------------------------------------

def wait_for(url, process, log_path, timeout=60):
    """Wait until GET `url` answers 200; raise (with the log's tail) if the server dies or is slow."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{_tail(log_path)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not answer in {timeout} s:\n{_tail(log_path)}")


def _tail(path, lines=30):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stopper(process, log, cleanup=None):
    """A callable ending the gunicorn `process` (its whole group: arbiter and workers) once."""
    done = []

    def stop():
        if done:
            return
        done.append(True)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # gunicorn's graceful stop
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()
        if cleanup is not None:
            cleanup()

    return stop


def gunicorn(app, port, workers, cwd, env, log_path):
    """Start gunicorn serving `app` in its own process group; returns the Popen.

    The same command line for both sides (bench/pages.py starts Locker desk with it):
    sync workers and an access log as `flask serve`, no tuning. One addition, which
    serves no request: no control socket, whose default path (~/.gunicorn/gunicorn.ctl)
    every gunicorn on the machine shares, so the two servers of a run (or a desk's own)
    would take it from each other.
    """
    log = open(log_path, "w")  # noqa: SIM115  (closed by stopper())
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "--workers", str(workers),
         "--bind", f"127.0.0.1:{port}", "--access-logfile", "-", "--no-control-socket",
         "--chdir", str(cwd), app],
        cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return process, log


def start_django_peer(database_url, port=0, workers=2, workdir=None, keep=False):
    """Build the peer project for `database_url` and serve it; returns (base_url, stop).

    `port` 0 picks a free one. The project goes to `workdir` (kept) or a temporary folder
    removed by stop() unless `keep`. Its gunicorn log is <project>/gunicorn.log.
    """
    temporary = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="locker-peer-")) if temporary else Path(workdir)
    if not temporary and workdir.exists() and any(workdir.iterdir()):
        # Rebuilt from scratch each time, but only over a peer project of an earlier run.
        if not (workdir / PROJECT / "settings.py").exists():
            raise ValueError(f"{workdir} is not empty and holds no peer project: not removing it")
        shutil.rmtree(workdir)
    build_project(workdir, database_url)
    port = port or free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": f"{PROJECT}.settings"}
    log_path = workdir / "gunicorn.log"
    process, log = gunicorn(f"{PROJECT}.wsgi:application", port, workers, workdir, env, log_path)
    cleanup = (lambda: shutil.rmtree(workdir, ignore_errors=True)) if temporary and not keep else None
    stop = stopper(process, log, cleanup)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base_url}/admin/login/", process, log_path)
    except BaseException:
        stop()
        raise
    return base_url, stop


def login(session, base_url, username=PEER_USER, password=PEER_PASSWORD):
    """Sign `session` (a requests.Session) in to the peer's admin; returns the session."""
    import re

    page = session.get(f"{base_url}/admin/login/", allow_redirects=False)
    page.raise_for_status()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = session.post(f"{base_url}/admin/login/?next=/admin/", allow_redirects=False, data={
        "csrfmiddlewaretoken": token, "username": username, "password": password, "next": "/admin/"})
    if answer.status_code != 302 or "sessionid" not in session.cookies:
        raise RuntimeError(f"peer login refused ({answer.status_code})")
    return session


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description="Serve Django's stock admin over a Locker desk database.")
    parser.add_argument("database_url")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workdir", help="build the project here (kept) instead of a temporary folder")
    args = parser.parse_args(argv)
    base_url, stop = start_django_peer(args.database_url, args.port, args.workers, args.workdir)
    print(f"Django admin on {base_url}/admin/  user {PEER_USER}  password {PEER_PASSWORD}  (Ctrl-C stops)")
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        stop()


if __name__ == "__main__":
    main()
