"""Key pages over HTTP, Locker desk against Django's stock admin on the same database.

    .venv/bin/python bench/pages.py --chain [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_chain]
    .venv/bin/python bench/pages.py --database-url sqlite:////tmp/x/locker.sqlite --instance-dir /tmp/x
        [--rounds 30] [--warmup 3] [--user manager@demo.local] [--no-peer] [--readme bench/README.md]

Both sides are served the way production serves Locker desk: gunicorn, 2 sync
workers, on loopback; ours with LOCKER_ENV=production (app/config.py
ProductionConfig), the peer by bench/peer. Each side gets one signed-in
requests.Session and the pages are fetched in turn, ours then Django's then ours …
(which of the two goes first alternates every round, so neither always meets the
other's warm cache); every GET is timed from the call to the end of the body and
any answer but 200 (a redirect to /login included) is an error, reported and left
out of the figures. Per page and side: p50 / p95 (nearest rank) / max in ms, the
body's bytes, and ours ÷ Django of p50 and p95 (below 1: ours is faster).
Results go to bench/results.json (write_results) and a Markdown table
(render_table), which --readme puts between the markers in that file.

As a library (make bench, or another script):

    from bench.pages import start_locker_desk, login_locker_desk, measure, pages_to_compare
    base, stop = start_locker_desk(url, port=0, password_salt=...)   # or instance_dir=...
    session = login_locker_desk(base, "manager@demo.local", DEMO_PASSWORD)
    results = measure([("clients", f"{base}/admin/clients/", None)], rounds=20, ours_session=session)

Signing in under the production config:
- Passwords are hashed with a salt (Flask-Security's HMAC pepper) that the server
  must share: the chain data set's fixed PASSWORD_SALT (bench.chain_data.build; --chain
  passes it), or for a database loaded with `flask demo-data` the password_salt file of
  the instance folder it ran with (--instance-dir). Otherwise no demo password works.
- Production requires a Super Admin to enrol an authenticator first; the switch is
  REQUIRE_2FA_FOR_SUPER_ADMIN (app/config.py). The default user here is the demo
  Manager, whom nothing asks for a second factor, so production's config is used
  unchanged; signing in as admin@demo.local sets REQUIRE_2FA_FOR_SUPER_ADMIN=0.
- Production's session cookie is Secure (SESSION_COOKIE_SECURE) and the bench speaks
  plain HTTP on 127.0.0.1; rather than change the server's config, the client sends
  Secure cookies back to loopback, as browsers do for localhost (new_session).
"""

import json
import math
import os
import platform
import re
import secrets
import statistics
import sys
import time
from datetime import UTC
from datetime import datetime
from pathlib import Path
from urllib.parse import quote_plus
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEMO_PASSWORD = "Locker-Demo-2026!"
DEFAULT_USER = "manager@demo.local"
# Redis db 11: the bench's rate-limit counters and grid feed stay apart from a desk's db 0.
BENCH_REDIS_URL = "redis://127.0.0.1:6379/11"
RESULTS = ROOT / "bench" / "results.json"
README_MARKER = "<!-- bench/pages.py: {name} {end} -->"
# Seconds one page may take before the run stops with an error (a stuck server, not a slow page).
REQUEST_TIMEOUT = 300
# Seconds of Django's time one page may use over a run (warm-up included). On MariaDB
# its changelists take 15–30 s a page (full scans and an exact COUNT(*)); past this it is
# fetched no more, and its figures come from the rounds it had.
PEER_BUDGET = 90
# The words searched for: a full name (two words, every one must match) and a phone prefix.
NAME_SEARCH = "Tahmina Khan"
PHONE_SEARCH = "01711"


# --- serving ours ---------------------------------------------------------------------

def start_locker_desk(database_url, port=0, workers=2, instance_dir=None, password_salt=None, env=None,
                      log_path=None):
    """Serve Locker desk on 127.0.0.1:`port` as production does; returns (base_url, stop).

    `gunicorn --workers N --bind … --access-logfile - wsgi:app` from the project folder,
    as `flask serve` starts its web child (app/cli.py), with LOCKER_ENV=production. The
    worker and cron children of `flask serve` are not started: they serve no page.

    The staff's passwords were hashed with a salt that the server must have too (see
    the module's docstring): `password_salt` (bench.chain_data's PASSWORD_SALT, or
    $PASSWORD_SALT), or else the password_salt file of `instance_dir`, the instance
    folder the database was built with. Without `instance_dir` a temporary one is used
    (removed by stop()), so the developer's instance/ is never written to. `env` adds
    or overrides variables (e.g. REQUIRE_2FA_FOR_SUPER_ADMIN=0). The gunicorn log is
    `log_path`, by default locker-desk-bench-<port>.log in the temporary folder.
    """
    import shutil
    import tempfile

    from bench.peer import free_port
    from bench.peer import gunicorn
    from bench.peer import stopper
    from bench.peer import wait_for

    temporary = instance_dir is None
    instance_dir = Path(tempfile.mkdtemp(prefix="locker-desk-bench-") if temporary else instance_dir)
    port = port or free_port()
    server_env = {
        **os.environ,
        "LOCKER_ENV": "production",
        "DATABASE_URL": database_url,
        "LOCKER_INSTANCE_DIR": str(instance_dir),
        # Signs cookies only (app/config.py); a fresh one per run signs nobody out of anything.
        "SECRET_KEY": secrets.token_urlsafe(48),
        "REDIS_URL": BENCH_REDIS_URL,
        **({"PASSWORD_SALT": password_salt} if password_salt else {}),
        **(env or {}),
    }
    log_path = Path(log_path or Path(tempfile.gettempdir()) / f"locker-desk-bench-{port}.log")
    process, log = gunicorn("wsgi:app", port, workers, ROOT, server_env, log_path)
    stop = stopper(process, log, (lambda: shutil.rmtree(instance_dir, ignore_errors=True))
                   if temporary else None)
    base_url = f"http://127.0.0.1:{port}"
    try:
        # /login, not /healthz: health is 503 without `flask serve`'s worker, which no page needs.
        wait_for(f"{base_url}/login", process, log_path)
    except BaseException:
        stop()
        raise
    return base_url, stop


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def new_session():
    """A requests.Session as the bench uses it: Secure cookies go back to loopback over http://.

    Production marks the session cookie Secure, and http.cookiejar never sends such a
    cookie over plain HTTP, so every page would redirect to /login. Browsers treat
    localhost as secure and send it; so does this session. (A cookie policy on the
    session's jar would not do: requests copies the cookies into a fresh jar, with the
    default policy, for every request.) No proxy from the environment either.
    """
    import requests
    from requests.cookies import RequestsCookieJar

    class LoopbackCookieJar(RequestsCookieJar):
        def set_cookie(self, cookie, *args, **kwargs):
            if cookie.domain in LOOPBACK:
                cookie.secure = False
            return super().set_cookie(cookie, *args, **kwargs)

    session = requests.Session()
    session.cookies = LoopbackCookieJar()
    session.trust_env = False
    return session


def login_locker_desk(base_url, email=DEFAULT_USER, password=DEMO_PASSWORD):
    """A requests.Session signed in to Locker desk's /login (Flask-Security, CSRF token)."""
    session = new_session()
    page = session.get(f"{base_url}/login", allow_redirects=False)
    page.raise_for_status()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    if token is None:
        raise RuntimeError("no csrf_token on /login")
    answer = session.post(f"{base_url}/login", allow_redirects=False,
                          data={"email": email, "password": password, "csrf_token": token.group(1)})
    # Signed in: a redirect onwards. A wrong password shows the form again (200); a refused
    # CSRF token or a lost cookie is sent back to /login.
    if answer.status_code not in (302, 303) or "/login" in answer.headers.get("Location", ""):
        raise RuntimeError(f"login as {email} refused ({answer.status_code}); is the instance folder "
                           "(password salt) the one the database was built with?")
    home = session.get(f"{base_url}/admin/", allow_redirects=False)
    if home.status_code != 200:
        where = home.headers.get("Location", "")
        hint = (" (two-factor set-up required: REQUIRE_2FA_FOR_SUPER_ADMIN=0)"
                if "tf-" in where or "two" in where else "")
        raise RuntimeError(f"signed in as {email} but /admin/ answers {home.status_code} {where}{hint}")
    return session


# --- what to compare -------------------------------------------------------------------

def status_filter_arg(session, base_url):
    """The URL key of the clients list's "Status equals" filter (flt0_<key>=ACTIVE).

    Flask-Admin numbers filters by their position in column_filters × operations
    (admin_views/people.py ClientView), so the key is read from the list page's
    filter data instead of being hard-coded: the first filter offering the client
    statuses is "equals", Flask-Admin's first operation.
    """
    page = session.get(f"{base_url}/admin/clients/", allow_redirects=False)
    page.raise_for_status()
    data = re.search(r'id="filter-groups-data"[^>]*>(.*?)</', page.text, re.S)
    if data is None:
        raise RuntimeError("no filter data on /admin/clients/")
    import html

    groups = json.loads(html.unescape(data.group(1)))
    for filters in groups.values():
        for entry in filters:
            options = [option[0] for option in entry.get("options") or []]
            if "ACTIVE" in options and "BANNED" in options:
                return entry["arg"]
    raise RuntimeError("no status filter on /admin/clients/")


def busiest_client(database_url):
    """The id of the client with the most rentals: a regular's profile, with a long history."""
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(
                "SELECT client_id FROM rental GROUP BY client_id ORDER BY COUNT(*) DESC, client_id "
                "LIMIT 1")).scalar_one()
    finally:
        engine.dispose()


def pages_to_compare(ours_base, ours_session, database_url, peer_base=None):
    """[(name, our URL, Django's URL or None)] of the key pages."""
    peer = (lambda path: f"{peer_base}/admin/gym/{path}") if peer_base else (lambda path: None)
    status = status_filter_arg(ours_session, ours_base)
    name, phone = quote_plus(NAME_SEARCH), quote_plus(PHONE_SEARCH)
    return [
        ("clients", f"{ours_base}/admin/clients/", peer("client/")),
        (f"clients: search {NAME_SEARCH}", f"{ours_base}/admin/clients/?search={name}",
         peer(f"client/?q={name}")),
        (f"clients: search {PHONE_SEARCH}", f"{ours_base}/admin/clients/?search={phone}",
         peer(f"client/?q={phone}")),
        ("clients: status Active", f"{ours_base}/admin/clients/?flt0_{status}=ACTIVE",
         peer("client/?status__exact=ACTIVE")),
        ("rentals", f"{ours_base}/admin/rentals/", peer("rental/")),
        ("payments", f"{ours_base}/admin/payments/", peer("payment/")),
        ("invoices", f"{ours_base}/admin/invoices/", peer("invoice/")),
        ("activity log", f"{ours_base}/admin/activity/", peer("activitylog/")),
        (f"Ctrl+K: {NAME_SEARCH}", f"{ours_base}/admin/quick_search/?q={name}", None),
        (f"Ctrl+K: {PHONE_SEARCH}", f"{ours_base}/admin/quick_search/?q={phone}", None),
        ("client profile (most rentals)",
         f"{ours_base}/admin/client_profile/?id={busiest_client(database_url)}", None),
        ("locker grid", f"{ours_base}/admin/locker_grid/", None),
    ]


# --- measuring -------------------------------------------------------------------------

def _get(session, url):
    """(ms, status, body bytes) of one GET, the whole body read; redirects are not followed."""
    import requests

    started = time.perf_counter()
    try:
        response = session.get(url, allow_redirects=False, timeout=REQUEST_TIMEOUT)
        body = response.content
    except requests.ConnectionError:  # a worker killed at gunicorn's timeout
        return (time.perf_counter() - started) * 1000, 0, 0
    return (time.perf_counter() - started) * 1000, response.status_code, len(body)


def nearest_rank(values, share):
    """The smallest of `values` with at least `share` of them at or below it (p95: 0.95)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def summarize(samples, url):
    """p50 / p95 (nearest rank) / max ms and bytes of one side's samples of one page."""
    good = [(ms, size) for ms, status, size in samples if status == 200]
    errors = [status for _ms, status, _size in samples if status != 200]
    summary = {"url": urlsplit(url)._replace(scheme="", netloc="").geturl(), "n": len(good),
               "errors": len(errors), "error_statuses": sorted(set(errors))}
    if good:
        times = sorted(ms for ms, _size in good)
        summary.update(p50_ms=round(statistics.median(times), 2),
                       p95_ms=round(nearest_rank(times, 0.95), 2),
                       max_ms=round(times[-1], 2),
                       bytes=int(statistics.median(size for _ms, size in good)))
    return summary


def measure(pairs, rounds, ours_session, peer_session=None, warmup=3, progress=None):
    """Time each (name, our URL, Django's URL or None) `rounds` times; returns a list of pages.

    Every round fetches every page once per side, ours and Django's back to back,
    the side going first alternating by round; `warmup` rounds before are not
    counted (each gunicorn worker imports, compiles templates and connects lazily).
    A Django page that has used PEER_BUDGET seconds is fetched no more.
    """
    samples = {name: {"ours": [], "peer": []} for name, _ours, _peer in pairs}
    peer_seconds = {name: 0.0 for name, _ours, _peer in pairs}
    for number in range(warmup + rounds):
        for name, ours_url, peer_url in pairs:
            sides = [("ours", ours_session, ours_url)]
            if peer_url is not None and peer_seconds[name] < PEER_BUDGET:
                sides.append(("peer", peer_session, peer_url))
                if number % 2:
                    sides.reverse()
            for side, session, url in sides:
                sample = _get(session, url)
                if side == "peer":
                    peer_seconds[name] += sample[0] / 1000
                if number >= warmup:
                    samples[name][side].append(sample)
        if progress is not None:
            progress(number + 1 - warmup, rounds)
    results = []
    for name, ours_url, peer_url in pairs:
        page = {"name": name, "ours": summarize(samples[name]["ours"], ours_url),
                "peer": summarize(samples[name]["peer"], peer_url) if peer_url else None, "ratio": None}
        ours, peer = page["ours"], page["peer"]
        if peer and "p50_ms" in ours and "p50_ms" in peer:
            page["ratio"] = {"p50": round(ours["p50_ms"] / peer["p50_ms"], 2),
                             "p95": round(ours["p95_ms"] / peer["p95_ms"], 2),
                             "bytes": round(ours["bytes"] / peer["bytes"], 2)}
        results.append(page)
    return results


# --- reporting -------------------------------------------------------------------------

def redacted(database_url):
    """The URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(database_url).render_as_string(hide_password=True)


def write_results(results, path=RESULTS, **meta):
    """Write {"meta": …, "pages": results} as JSON to `path`; `meta` adds to what is recorded."""
    try:
        import django

        django_version = django.get_version()
    except ImportError:  # measuring ours only, without bench/peer/requirements.txt
        django_version = None
    document = {
        "meta": {
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "python": platform.python_version()},
            "django": django_version,
            **meta,
        },
        "pages": results,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return path


def _times(side):
    if side is None:
        return "", ""
    if "p50_ms" not in side:
        return f"all {side['errors']} failed {side['error_statuses']}", ""
    text = f"{side['p50_ms']:.1f} / {side['p95_ms']:.1f} / {side['max_ms']:.1f}"
    if side["errors"]:
        text += f" ({side['errors']} errors: {side['error_statuses']})"
    return text, f"{side['bytes'] / 1024:.1f}"


def render_table(results):
    """Markdown: one row per page, ours and Django's p50 / p95 / max and KiB, and ours ÷ Django."""
    lines = ["| page | Locker desk p50 / p95 / max ms | KiB | Django admin p50 / p95 / max ms | KiB "
             "| ours ÷ Django p50 | p95 |",
             "|---|---|---|---|---|---|---|"]
    for page in results:
        ours, ours_kib = _times(page["ours"])
        peer, peer_kib = _times(page["peer"])
        if peer and page["peer"]["n"] + page["peer"]["errors"] < page["ours"]["n"]:
            peer += f" ({page['peer']['n'] + page['peer']['errors']} rounds)"
        ratio = page["ratio"] or {}
        lines.append(f"| {page['name']} | {ours} | {ours_kib} | {peer or '—'} | {peer_kib} "
                     f"| {ratio.get('p50', '')} | {ratio.get('p95', '')} |")
    return "\n".join(lines) + "\n"


def update_readme(table, path, heading="", name="pages"):
    """Put `heading` and `table` between the markers named `name` in `path` (appended if absent)."""
    start, end = (README_MARKER.format(name=name, end=word) for word in ("start", "end"))
    path = Path(path)
    text = path.read_text()
    block = f"{start}\n{heading}{table}{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


# --- command line ----------------------------------------------------------------------

def main(argv=None):
    import argparse

    from bench.peer import login as login_peer
    from bench.peer import start_django_peer

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="SQLAlchemy URL of the database to serve (default: $DATABASE_URL)")
    parser.add_argument("--chain", action="store_true",
                        help="the chain data set (bench.chain_data): built at --database-url, or its "
                             "SQLite cache, unless already there; its password salt is used")
    parser.add_argument("--scale", type=float, default=1.0, help="the chain data set's scale")
    parser.add_argument("--password-salt", default=os.environ.get("PASSWORD_SALT"),
                        help="the salt the staff's passwords were hashed with (default: $PASSWORD_SALT)")
    parser.add_argument("--instance-dir", default=os.environ.get("LOCKER_INSTANCE_DIR"),
                        help="or the instance folder the database was built with, holding that salt")
    parser.add_argument("--user", default=DEFAULT_USER)
    parser.add_argument("--password", default=DEMO_PASSWORD)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-peer", action="store_true", help="measure ours only")
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument("--readme", help="also put the table between the markers in this file")
    args = parser.parse_args(argv)
    if args.chain:
        from bench.chain_data.build import ensure_dataset

        summary = ensure_dataset(args.database_url, args.scale)
        args.database_url = summary["database_url"]
        args.password_salt = summary["app_config"]["SECURITY_PASSWORD_SALT"]
        print(f"chain data set: {summary['counts']}", flush=True)
    if not args.database_url:
        parser.error("--database-url (or $DATABASE_URL) or --chain is needed")

    env = {}
    if args.user.startswith("admin@"):
        env["REQUIRE_2FA_FOR_SUPER_ADMIN"] = "0"  # a bench cannot enrol an authenticator
    stops = []
    try:
        ours_base, stop = start_locker_desk(args.database_url, workers=args.workers,
                                            instance_dir=args.instance_dir,
                                            password_salt=args.password_salt, env=env)
        stops.append(stop)
        ours_session = login_locker_desk(ours_base, args.user, args.password)
        peer_base = peer_session = None
        if not args.no_peer:
            peer_base, stop = start_django_peer(args.database_url, workers=args.workers)
            stops.append(stop)
            peer_session = login_peer(new_session(), peer_base)
        pairs = pages_to_compare(ours_base, ours_session, args.database_url, peer_base)
        print(f"ours {ours_base}  Django {peer_base or '(not started)'}  {len(pairs)} pages × "
              f"{args.rounds} rounds", flush=True)

        def progress(done, total):
            if done > 0 and (done % 10 == 0 or done == total):
                print(f"  round {done}/{total}", flush=True)

        results = measure(pairs, args.rounds, ours_session, peer_session, args.warmup, progress)
    finally:
        for stop in reversed(stops):
            stop()
    meta = {"database": redacted(args.database_url), "rounds": args.rounds, "warmup": args.warmup,
            "gunicorn_workers": args.workers, "user": args.user}
    path = write_results(results, args.results, **meta)
    table = render_table(results)
    print(table)
    print(f"written: {path}")
    if args.readme:
        heading = (f"Database `{meta['database']}`, {args.rounds} rounds after {args.warmup} warm-up, "
                   f"gunicorn {args.workers} workers each, signed in as {args.user}; "
                   f"{datetime.now(UTC):%Y-%m-%d}.\n\n")
        update_readme(table, args.readme, heading)
        print(f"table put in {args.readme}")
    errors = sum(page["ours"]["errors"] + (page["peer"] or {}).get("errors", 0) for page in results)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
