"""Sustained load: N front desks working at once for S seconds against gunicorn, as in production.

    .venv/bin/python bench/load.py                                   # builds its own demo database
    .venv/bin/python bench/load.py --database-url sqlite:////tmp/x/locker.sqlite --instance-dir /tmp/x
    .venv/bin/python bench/load.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_load \\
        --build --instance-dir /tmp/bench-load-pg                    # load the demo data into it first
    options: [--users 20] [--seconds 60] [--warmup 5] [--workers 2] [--json out.json]
             [--lockers 2000] [--clients 20000] [--keep] [--seed 2026]

The issue's target: "20 desk users for 60 s: 0 errors, p95 <= 300 ms".

The server is Locker desk under gunicorn with LOCKER_ENV=production, started by
bench.pages.start_locker_desk (2 sync workers, Redis db 11 for the rate-limit
counters and the grid's change feed). Without --database-url a temporary instance
folder gets a SQLite database: `flask db upgrade`, `flask seed`, `flask demo-data
--lockers 2000 --clients 20000` (a few minutes; --keep keeps the folder and prints
the command that reuses it). A database that was loaded with `flask demo-data` needs
the instance folder it was loaded with (--instance-dir): the staff's passwords are
hashed with that folder's password_salt (see bench/pages.py); so give --build an
--instance-dir to keep (without one, a temporary folder is used and removed unless
--keep, and the database cannot be signed in to again).

Before the load, PostgreSQL and MariaDB are ANALYZEd (analyze()): a production server
has planner statistics (autovacuum), a freshly loaded database may not, and this
machine's PostgreSQL runs with autovacuum off. Without them the grid's one query is
planned for 3 lockers instead of 2,000 and takes 4-5 s instead of ~0.25 s.

The bench WRITES to the database (rentals, invoices, payments, releases): point it at
a copy made for benchmarking, never at a desk's database.

Each simulated desk is a thread with its own signed-in requests.Session as the demo
Front Desk (desk@demo.local; the app allows one account several sessions). Before
each request it waits 0-200 ms (think time), then loops over a desk's day:

1. Ctrl+K: /admin/quick_search/?q=… with a name (a client's first name or full name),
   a 4-digit phone tail or a locker number, each timed as its own kind;
2. the client's profile, /admin/client_profile/?id=N (an active client of the branch);
3. the locker grid: the page every 4th round (as when the desk comes back to it),
   otherwise its tiles JSON (the page's full refresh), then one poll of its change
   feed (/admin/locker_grid/changes?since=…, marked as polling as grid.js does);
4. "Assign and take ৳… cash": GET /admin/rental_desk/assign/?locker_id=&client_id=
   (the form the grid's Assign action opens), then POST the form's own fields
   (csrf_token, client_id, locker_number, term, …) with confirm=cash, as the button
   does; on success the browser lands on the rental's summary, which is fetched too.
   The locker is one of the first three free ones (from the grid) of a zone the client
   may use, as a desk takes the first free locker: desks race for the same locker and
   the loser is told "Locker … is …, not available." That refusal is a correct answer,
   counted as "refused: taken", not as an error;
5. every other round, a payment: a tile marked "dues" is tapped (its side panel,
   /admin/locker_grid/locker/<id>), the panel's link opens the holder's profile, and
   the profile's first "Invoices with money owed" button opens /admin/take_payment/
   ?invoice_id=…; the desk types the balance shown and sends the form (cash, its
   default), landing on the same page with the receipt button. Two desks paying one
   invoice: the second gets "That is more than the balance …" ("refused: paid
   already"). A profile without an owed invoice ends the payment there (counted under
   outcomes, not as an error). The rounds in between release a locker (the release
   form of a tile's rental, locker straight back to Available) so that free lockers
   do not run out; a release is also done whenever the grid shows fewer than
   LOW_ON_FREE free lockers.

Every request is timed with perf_counter from the call to the end of the body
(redirects not followed: a redirect the browser would follow is fetched and timed as
its own request). An error is any 5xx, any 4xx, a connection error or timeout, a
redirect to /login, and a page that is neither the expected result nor a known
refusal. Latency figures are over every answered request, refusals and errors
included; requests begun during the first --warmup seconds (gunicorn's workers import,
compile templates and connect lazily) are not counted, so the measured window is
--seconds long. Printed: per kind count, errors, refusals, p50 / p95 (nearest rank) /
max ms; totals; requests/s and desk actions/min (completed assignments, payments and
releases); how busy the machine's CPUs were (the load generator runs on the same
machine, and its share is given); the verdict against the target; and any traceback in
the gunicorn log. run() returns all of it as a dict (for bench/results.json).

Rate limit: every page open to someone not signed in is limited per address
(PUBLIC_RATE_LIMIT, app/config.py, default 120 per minute), and every desk here signs
in from 127.0.0.1 at the same moment: GET and POST /login per desk, plus the start-up
polls of /login. Two runs within a minute, or --users above ~55, trip it (tried: the
59th sign-in within a minute answered 429). The bench's server therefore runs with
PUBLIC_RATE_LIMIT="10000 per minute" (only the bench's: signed-in requests, which are
all the measured load, are exempt from that limit anyway). The failed-sign-in limits
and the lockout are left as they are: no sign-in here fails.

As a library (make bench):

    from bench.load import run
    results = run(database_url=None, users=20, seconds=60)     # the dict printed as the report
"""

import argparse
import json
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC
from datetime import datetime
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.pages import BENCH_REDIS_URL  # noqa: E402
from bench.pages import DEMO_PASSWORD  # noqa: E402
from bench.pages import login_locker_desk  # noqa: E402
from bench.pages import nearest_rank  # noqa: E402
from bench.pages import redacted  # noqa: E402
from bench.pages import start_locker_desk  # noqa: E402

DESK_USER = "desk@demo.local"
TARGET_P95_MS = 300
THINK_MS = (0, 200)
# A request slower than this is a stuck server, not a slow page: an error.
REQUEST_TIMEOUT = 30
# Below this many free lockers on the grid a desk releases one instead of taking a payment.
LOW_ON_FREE = 40
# Lockers a desk chooses among: the first few free ones of a zone, so desks race for them.
FIRST_FREE = 3
# The grid page is reloaded every this many rounds; the rounds between refresh its tiles JSON.
GRID_PAGE_EVERY = 4
# The bench's server only: see the module docstring.
SERVER_ENV = {"PUBLIC_RATE_LIMIT": "10000 per minute"}

# Kinds of request, in the order the report lists them.
KINDS = ("search: name", "search: phone tail", "search: locker no.", "client profile", "grid page",
         "grid tiles JSON", "grid changes poll", "grid tile panel", "assign form", "assign + cash (POST)",
         "rental summary", "payment form", "payment (POST)", "release form", "release (POST)")
# Zone kinds (ZoneKind names) and the client genders (Gender names) each may hold
# (app.services.rentals.gender_mismatch); any other zone needs a manager's override.
ZONE_GENDERS = {"MEN": {"MALE"}, "WOMEN": {"FEMALE"}, "FAMILY": {"MALE", "FEMALE", "OTHER"},
                "VIP": {"MALE", "FEMALE", "OTHER"}}
# The refusals a race may bring, as the services word them (msgids, app/services/*.py);
# the staff read them in their own language, so each is matched in every catalog too.
REFUSALS = {
    "refused: taken": "Locker %(number)s is %(status)s, not available.",
    "refused: paid already": "That is more than the balance of %(balance)s. Nothing was saved.",
    "refused: released already": "This rental does not hold a locker any more.",
}


class Stop(Exception):
    """The run's time is over: the desk stops before its next request."""


# --- the demo database -----------------------------------------------------------------

def build_database(database_url, instance_dir, lockers, clients, log=print):
    """`flask db upgrade`, `flask seed`, `flask demo-data` into `database_url` with `instance_dir`.

    As `make run` loads the demo, in child processes, so the password salt lands in
    `instance_dir`/password_salt, the one the server must use.
    """
    flask = str(Path(sys.executable).parent / "flask")
    env = {**os.environ, "FLASK_APP": "wsgi.py", "DATABASE_URL": database_url,
           "LOCKER_INSTANCE_DIR": str(instance_dir), "REDIS_URL": BENCH_REDIS_URL}
    env.pop("LOCKER_ENV", None)
    if _has_staff(database_url):
        raise SystemExit(f"{redacted(database_url)} already has staff accounts: drop it, or leave out "
                         "--build and pass the --instance-dir it was loaded with")
    started = time.perf_counter()
    for command in (["db", "upgrade"], ["seed"],
                    ["demo-data", "--lockers", str(lockers), "--clients", str(clients)]):
        log(f"  flask {' '.join(command)}", flush=True)
        done = subprocess.run([flask, *command], cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"flask {' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    log(f"  demo data loaded in {time.perf_counter() - started:.0f} s", flush=True)


def _has_staff(database_url):
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table("user"):
                return False
            return connection.execute(sa.select(sa.func.count()).select_from(sa.table("user"))).scalar() > 0
    finally:
        engine.dispose()


def analyze(database_url):
    """Give PostgreSQL and MariaDB their planner statistics, as a production server has them.

    There autovacuum (on by default) and InnoDB's automatic statistics keep them, but
    not always within minutes of a bulk load, and this machine's PostgreSQL runs with
    autovacuum off: without statistics PostgreSQL plans the grid's query for 3 lockers
    instead of 2,000 and one page takes seconds. SQLite is left as an install has it
    (nothing runs ANALYZE there). Statistics change no row.
    """
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                connection.exec_driver_sql("ANALYZE")
            elif engine.dialect.name in ("mysql", "mariadb"):
                tables = sa.inspect(connection).get_table_names()
                connection.exec_driver_sql("ANALYZE TABLE " + ", ".join(f"`{t}`" for t in tables))
            connection.commit()
    finally:
        engine.dispose()


def desk_inputs(database_url, email=DESK_USER):
    """What the desks type and pick, read once before the load (not timed).

    The active clients of the desk's branch (id, name, phone, gender), the kind of
    each zone and the locker numbers: the Ctrl+K queries are made from them and each
    round's client is one of them, as the person standing at the desk.
    """
    import sqlalchemy as sa

    user = sa.table("user", sa.column("email"), sa.column("branch_id"))
    client = sa.table("client", sa.column("id"), sa.column("branch_id"), sa.column("full_name"),
                      sa.column("phone"), sa.column("gender"), sa.column("status"))
    zone = sa.table("zone", sa.column("id"), sa.column("branch_id"), sa.column("kind"))
    locker = sa.table("locker", sa.column("branch_id"), sa.column("number"))
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            branch_id = connection.execute(sa.select(user.c.branch_id).where(user.c.email == email)).scalar()
            if branch_id is None:
                raise SystemExit(f"{email} not found or not limited to a branch: is this a demo database?")
            clients = [row._asdict() for row in connection.execute(
                sa.select(client.c.id, client.c.full_name, client.c.phone, client.c.gender)
                .where(client.c.branch_id == branch_id, client.c.status == "ACTIVE")
                .order_by(client.c.id))]
            zones = dict(connection.execute(
                sa.select(zone.c.id, zone.c.kind).where(zone.c.branch_id == branch_id)).all())
            numbers = connection.execute(
                sa.select(locker.c.number).where(locker.c.branch_id == branch_id)).scalars().all()
    finally:
        engine.dispose()
    if not clients or not numbers:
        raise SystemExit("the desk's branch has no active clients or no lockers: is this a demo database?")
    # Which zones each gender may be given a locker in without a manager's override.
    zones_for = {gender: {zone_id for zone_id, kind in zones.items() if gender in ZONE_GENDERS.get(kind, ())}
                 for gender in ("MALE", "FEMALE", "OTHER")}
    return {"branch_id": branch_id, "clients": clients, "zones_for": zones_for, "numbers": numbers}


def refusal_patterns():
    """{outcome: compiled regex} matching each refusal in English or any translation."""
    from babel.messages.pofile import read_po

    texts = {outcome: {msgid} for outcome, msgid in REFUSALS.items()}
    for po in (ROOT / "translations").glob("*/LC_MESSAGES/messages.po"):
        with open(po, "rb") as handle:
            catalog = read_po(handle)
        for outcome, msgid in REFUSALS.items():
            message = catalog.get(msgid)
            if message is not None and message.string:
                texts[outcome].add(message.string)

    def pattern(text):
        # The placeholders are filled with a number, a status or an amount: anything short.
        parts = re.split(r"%\(\w+\)s", text)
        return r"[^<]{0,80}?".join(re.escape(part) for part in parts)

    return {outcome: re.compile("|".join(pattern(text) for text in sorted(variants)))
            for outcome, variants in texts.items()}


# --- reading the desk's pages ------------------------------------------------------------

class _FormFields(HTMLParser):
    """The fields a browser would send from one <form>: inputs, selects (chosen option), textareas."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.fields, self.buttons = {}, {}
        self._select = self._textarea = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name:
            kind = attrs.get("type", "text").lower()
            if kind in ("submit", "button", "image"):
                self.buttons[attrs.get("id") or name] = (name, attrs.get("value", ""))
            elif kind not in ("checkbox", "radio") or "checked" in attrs:
                self.fields[name] = attrs.get("value", "")
        elif tag == "button" and name:
            self.buttons[attrs.get("id") or name] = (name, attrs.get("value", ""))
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select:
            # The first option unless another is selected, as a browser sends it.
            if self._select not in self.fields or "selected" in attrs:
                self.fields[self._select] = attrs.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields[name] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.fields[self._textarea] += data


FORM = re.compile(r"<form\b[^>]*>.*?</form>", re.S)


def form_with(html, marker):
    """(fields, buttons) of the first <form> of `html` containing `marker`, or None."""
    for match in FORM.finditer(html):
        if marker in match.group(0):
            parser = _FormFields()
            parser.feed(match.group(0))
            return parser.fields, parser.buttons
    return None


def script_json(html, element_id):
    """The JSON of <script type="application/json" id=element_id> (the grid's data), or None."""
    found = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', html, re.S)
    return json.loads(found.group(1)) if found else None


BENGALI_DIGITS = str.maketrans("০১২৩৪৫৬৭৮৯", "0123456789")
ALERT = re.compile(r'class="(?:alert alert-danger|invalid-feedback)[^"]*"[^>]*>(.*?)</div>', re.S)


def alert_text(html):
    """The first error shown on a page (flash or field error), to say what an unexpected page said."""
    found = ALERT.search(html)
    if not found:
        return ""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())[:160]


# --- one desk ------------------------------------------------------------------------------

class Desk:
    """One front desk: a signed-in session working through rounds until `stop_at`."""

    def __init__(self, number, base_url, session, inputs, refusals, seed, stop_at, counted_from, think_ms):
        self.number, self.base_url, self.session = number, base_url, session
        self.inputs, self.refusals = inputs, refusals
        self.rng = random.Random(seed * 1000 + number)
        self.stop_at, self.counted_from, self.think_ms = stop_at, counted_from, think_ms
        self.samples = []          # (started, kind, status, ms, error or None, outcome or None)
        self.outcomes = Counter()  # what the desk got done, or was refused, counted after warm-up
        self.grid_filters = None   # the grid page's filters, which its script sends with every poll
        self.version = None        # the change feed's version last seen
        self.tiles = []
        self.round = 0
        self.rounds_counted = 0    # rounds finished after the warm-up

    # -- requests --

    def request(self, kind, method, path, *, data=None, headers=None, expect=(200,)):
        """One timed request; returns (response or None, sample index); None means it was an error."""
        think = self.rng.uniform(*self.think_ms) / 1000
        if time.monotonic() + think >= self.stop_at:
            raise Stop
        time.sleep(think)
        started = time.monotonic()
        clock = time.perf_counter()
        response, error = None, None
        try:
            response = self.session.request(method, self.base_url + path, data=data, headers=headers,
                                            allow_redirects=False, timeout=REQUEST_TIMEOUT)
            response.content  # noqa: B018  (the whole body is part of the time)
        except Exception as exc:  # noqa: BLE001  (a refused connection, a timeout: all errors)
            error = f"{type(exc).__name__}: {exc}"[:200]
        ms = (time.perf_counter() - clock) * 1000
        status = response.status_code if response is not None else None
        if response is not None:
            location = response.headers.get("Location", "")
            if status in (301, 302, 303) and "/login" in urlsplit(location).path:
                error = "redirected to /login (signed out)"
            elif status >= 500:
                error = f"HTTP {status}"
            elif status not in expect:
                error = f"HTTP {status} {location}".strip()
        self.samples.append((started, kind, status, ms, error, None))
        return (None if error else response), len(self.samples) - 1

    def mark(self, index, *, error=None, outcome=None):
        """Put what a response turned out to mean on its sample (a refusal, an unexpected page)."""
        started, kind, status, ms, old_error, old_outcome = self.samples[index]
        self.samples[index] = (started, kind, status, ms, error or old_error, outcome or old_outcome)
        if outcome and started >= self.counted_from:
            self.outcomes[outcome] += 1

    def note(self, outcome):
        """Count what a round ended with when no request says it (nothing to pay, no free locker)."""
        if time.monotonic() >= self.counted_from:
            self.outcomes[outcome] += 1

    def refusal(self, html):
        for outcome, pattern in self.refusals.items():
            if pattern.search(html):
                return outcome
        return None

    def json_answer(self, response, index):
        """The JSON body, or None with the sample marked an error (e.g. the login page came back)."""
        if not response.headers.get("Content-Type", "").startswith("application/json"):
            self.mark(index, error=f"not JSON: {response.headers.get('Content-Type')}")
            return None
        return response.json()

    # -- the day at the desk --

    def run(self):
        while True:
            try:
                self.one_round()
            except Stop:
                return
            self.round += 1
            self.rounds_counted += time.monotonic() >= self.counted_from

    def one_round(self):
        client = self.rng.choice(self.inputs["clients"])
        self.quick_search(client)
        self.get("client profile", f"/admin/client_profile/?id={client['id']}")
        self.look_at_grid()
        self.assign(client)
        free = sum(1 for tile in self.tiles if "assign" in tile.get("a", ()))
        if self.round % 2 or free < LOW_ON_FREE:
            self.release()
        else:
            self.take_payment()

    def get(self, kind, path, **kwargs):
        return self.request(kind, "GET", path, **kwargs)

    def quick_search(self, client):
        """Ctrl+K as the desk types it: a name, the last 4 digits of a phone, or a locker number."""
        pick = self.rng.random()
        if pick < 0.4:
            words = client["full_name"].split()
            kind, text = "search: name", (words[0] if self.rng.random() < 0.5 else client["full_name"])
        elif pick < 0.7:
            kind, text = "search: phone tail", client["phone"][-4:]
        else:
            kind, text = "search: locker no.", self.rng.choice(self.inputs["numbers"])
        response, index = self.get(kind, "/admin/quick_search/?" + urlencode({"q": text}))
        if response is not None:
            self.json_answer(response, index)

    def look_at_grid(self):
        """The grid page now and then, its tiles JSON otherwise, then one poll of the change feed."""
        if self.grid_filters is None or self.round % GRID_PAGE_EVERY == 0:
            response, index = self.get("grid page", "/admin/locker_grid/")
            if response is None:
                return
            config, data = script_json(response.text, "grid-config"), script_json(response.text, "grid-data")
            if config is None or data is None:
                self.mark(index, error="grid page without its data")
                return
            self.grid_filters, self.version, self.tiles = config["filters"], data["version"], data["tiles"]
        else:
            response, index = self.get("grid tiles JSON",
                                       "/admin/locker_grid/tiles?" + urlencode(self.grid_filters),
                                       headers={"Accept": "application/json",
                                                "X-Requested-With": "locker-grid-poll"})
            data = self.json_answer(response, index) if response is not None else None
            if data is None:
                return
            self.version, self.tiles = data["version"], data["tiles"]
        if self.version is None:
            return  # no change feed (Redis down): the page refreshes its tiles instead
        response, index = self.get("grid changes poll", "/admin/locker_grid/changes?"
                                   + urlencode({**self.grid_filters, "since": self.version}),
                                   headers={"Accept": "application/json",
                                            "X-Requested-With": "locker-grid-poll"})
        data = self.json_answer(response, index) if response is not None else None
        if data and not data.get("reload") and not data.get("fallback"):
            self.version = data["version"]
            changed = {tile["id"]: tile for tile in data.get("tiles", [])}
            removed = set(data.get("removed", []))
            if changed or removed:
                self.tiles = [changed.get(tile["id"], tile) for tile in self.tiles
                              if tile["id"] not in removed]

    def assign(self, client):
        """Assign and take cash: the assign form the grid opens, then its "… take cash" button."""
        zones = self.inputs["zones_for"].get(client["gender"], set())
        free = [tile for tile in self.tiles if "assign" in tile.get("a", ()) and tile["z"] in zones]
        if not free:
            self.note("no free locker for the client")
            return
        zone = self.rng.choice(sorted({tile["z"] for tile in free}))
        tile = self.rng.choice([tile for tile in free if tile["z"] == zone][:FIRST_FREE])
        path = "/admin/rental_desk/assign/?" + urlencode({"locker_id": tile["id"], "client_id": client["id"]})
        response, index = self.get("assign form", path)
        if response is None:
            return
        form = form_with(response.text, 'name="locker_number"')
        if form is None:
            self.mark(index, error="assign page without its form")
            return
        fields, buttons = form
        # The green "Assign and take ৳… cash" button: shown with the quote when there is a price to pay.
        if "assign-and-pay" not in buttons:
            self.mark(index, error=f"no 'assign and take cash' button: {alert_text(response.text)}")
            return
        name, value = buttons["assign-and-pay"]
        response, index = self.request("assign + cash (POST)", "POST", path, data={**fields, name: value},
                                       expect=(200, 302, 303))
        if response is None:
            return
        if response.status_code in (302, 303):
            target = response.headers.get("Location", "")
            if "/admin/rental_desk/rental/" not in target:
                self.mark(index, error=f"assigned, but sent to {target}")
                return
            self.mark(index, outcome="assigned + cash")
            self.get("rental summary", _path(target))
            return
        outcome = self.refusal(response.text)
        if outcome == "refused: taken":
            self.mark(index, outcome=outcome)
        else:
            self.mark(index, error=f"assign not done: {alert_text(response.text) or 'form shown again'}")

    def take_payment(self):
        """A tile marked "dues": its side panel, the client's profile, the owed invoice's payment form.

        The desk types the balance the form shows and takes it in cash (the form's default).
        """
        owing = [tile for tile in self.tiles if "dues" in tile.get("m", ()) and "r" in tile]
        if not owing:
            self.note("no dues on the grid")
            return
        tile = self.rng.choice(owing)
        response, index = self.get("grid tile panel", f"/admin/locker_grid/locker/{tile['id']}")
        if response is None:
            return
        profile = re.search(r'href="([^"]+)" id="grid-panel-profile"', response.text)
        if profile is None:
            # Released by another desk since the grid was read: nobody to take money from.
            self.note("locker no longer held")
            return
        response, index = self.get("client profile", unescape(profile.group(1)))
        if response is None:
            return
        invoice = re.search(r'id="open-invoices".*?href="(/admin/take_payment/\?invoice_id=\d+)"',
                            response.text, re.S)
        if invoice is None:
            self.note("profile shows nothing owed")
            return
        response, index = self.get("payment form", unescape(invoice.group(1)))
        if response is None:
            return
        form = form_with(response.text, 'name="amount"')
        balance = re.search(r'id="balance"><strong>(.*?)</strong>', response.text)
        if form is None or balance is None:
            self.mark(index, error="payment page without its form or balance")
            return
        fields, _buttons = form
        # "৳১,২৫০.৫০" as shown to a Bengali reader; the desk types 1250.50.
        fields["amount"] = re.sub(r"[^0-9.]", "", unescape(balance.group(1)).translate(BENGALI_DIGITS))
        if not fields["amount"].strip("0."):
            # Another desk took it between the profile and this page: the desk sees 0 owed.
            self.note("paid meanwhile (balance 0)")
            return
        response, index = self.request("payment (POST)", "POST", "/admin/take_payment/", data=fields,
                                       expect=(200, 302, 303))
        if response is None:
            return
        if response.status_code in (302, 303):
            self.mark(index, outcome="payment taken")
            self.get("payment form", _path(response.headers.get("Location", "")))
            return
        outcome = self.refusal(response.text)
        if outcome == "refused: paid already":
            self.mark(index, outcome=outcome)
        else:
            self.mark(index, error=f"payment not taken: {alert_text(response.text) or 'form shown again'}")

    def release(self):
        """A client gives the locker up: the release form, locker straight back to Available."""
        holding = [tile for tile in self.tiles if "release" in tile.get("a", ()) and "r" in tile]
        if not holding:
            self.note("nothing to release")
            return
        tile = self.rng.choice(holding)
        path = f"/admin/rental_desk/release/?rental_id={tile['r']}"
        response, index = self.get("release form", path)
        if response is None:
            return
        form = form_with(response.text, 'name="reason"')
        if form is None:
            self.mark(index, error="release page without its form")
            return
        fields, _buttons = form
        fields.update(locker_to="AVAILABLE", reason="Load bench: client gave the locker up")
        response, index = self.request("release (POST)", "POST", path, data=fields, expect=(200, 302, 303))
        if response is None:
            return
        if response.status_code in (302, 303):
            self.mark(index, outcome="released")
            self.get("client profile", _path(response.headers.get("Location", "")))
            return
        outcome = self.refusal(response.text)
        if outcome == "refused: released already":
            self.mark(index, outcome=outcome)
        else:
            self.mark(index, error=f"release not done: {alert_text(response.text) or 'form shown again'}")


def _path(url):
    """The path and query of a Location header (absolute or not)."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


# --- figures -------------------------------------------------------------------------------

def figures(samples):
    """count, errors, refusals and p50 / p95 / max ms of answered requests."""
    answered = sorted(ms for _s, _k, status, ms, _e, _o in samples if status is not None)
    result = {"count": len(samples), "errors": sum(1 for sample in samples if sample[4]),
              "refused": sum(1 for sample in samples if (sample[5] or "").startswith("refused"))}
    if answered:
        result.update(p50_ms=round(statistics.median(answered), 1),
                      p95_ms=round(nearest_rank(answered, 0.95), 1), max_ms=round(answered[-1], 1))
    return result


class CpuMeter:
    """How busy the machine's CPUs were (from /proc/stat), and this process's own CPU time."""

    def __init__(self):
        self.machine, self.own, self.wall = self._machine(), time.process_time(), time.monotonic()

    @staticmethod
    def _machine():
        try:
            values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except OSError:
            return None
        idle = values[3] + values[4]  # idle + iowait
        return sum(values), idle

    def read(self):
        wall = time.monotonic() - self.wall
        result = {"load_generator_cores": round((time.process_time() - self.own) / wall, 2)}
        now = self._machine()
        if now and self.machine:
            total, idle = now[0] - self.machine[0], now[1] - self.machine[1]
            result["machine_busy_percent"] = round(100 * (1 - idle / total), 1) if total else None
        result["cpus"] = os.cpu_count()
        # Over the last minute: anything else running on the machine shows here too.
        result["load_average_1min"] = round(os.getloadavg()[0], 2)
        return result


def server_errors(log_path, limit=3):
    """(5xx lines of gunicorn's access log, the first `limit` tracebacks) from its log."""
    try:
        lines = Path(log_path).read_text(errors="replace").splitlines()
    except OSError:
        return [], []
    access_5xx = [line for line in lines if re.search(r'" 5\d\d ', line)]
    tracebacks, current = [], None
    for line in lines:
        if line.startswith("Traceback (most recent call last)") or "Exception on " in line:
            if current:
                tracebacks.append("\n".join(current))
            current = [line]
        elif current is not None:
            # A traceback ends at the first line that is not indented and names no exception.
            if line.startswith((" ", "\t")) or re.match(r"^[\w.]+(Error|Exception|Warning)\b", line) \
                    or line.startswith(("During handling", "The above exception")) or not line.strip():
                current.append(line)
            else:
                tracebacks.append("\n".join(current))
                current = None
    if current:
        tracebacks.append("\n".join(current))
    return access_5xx, tracebacks[:limit] + ([f"… and {len(tracebacks) - limit} more"]
                                              if len(tracebacks) > limit else [])


# --- the run -------------------------------------------------------------------------------

def run(database_url=None, instance_dir=None, users=20, seconds=60, warmup=5, workers=2,
        lockers=2000, clients=20000, build=False, keep=False, password_salt=None, seed=2026,
        think_ms=THINK_MS, log=print):
    """Serve, sign `users` desks in, load for `warmup` + `seconds` s; returns the figures as a dict."""
    created = None  # a temporary instance folder made here, removed at the end unless `keep`
    if database_url is None:
        if instance_dir is None:
            created = instance_dir = Path(tempfile.mkdtemp(prefix="locker-load-"))
        database_url = f"sqlite:///{Path(instance_dir).resolve() / 'locker.sqlite'}"
        build = True
    elif build and instance_dir is None:
        created = instance_dir = Path(tempfile.mkdtemp(prefix="locker-load-"))
    try:
        if build:
            log(f"building the demo database ({lockers} lockers, {clients} clients) in "
                f"{redacted(database_url)}", flush=True)
            build_database(database_url, instance_dir, lockers, clients, log)
        results = load(database_url, instance_dir, password_salt, users, seconds, warmup, workers, seed,
                       think_ms, log)
    finally:
        if created is not None and not keep:
            shutil.rmtree(created, ignore_errors=True)
    if created is not None and keep:
        results["meta"]["kept_instance_dir"] = str(created)
    return results


def load(database_url, instance_dir, password_salt, users, seconds, warmup, workers, seed, think_ms, log):
    """Serve the database, sign the desks in and let them work; the figures as a dict."""
    analyze(database_url)
    inputs = desk_inputs(database_url)
    refusals = refusal_patterns()
    log_path = Path(tempfile.gettempdir()) / f"locker-load-gunicorn-{os.getpid()}.log"
    base_url, stop_server = start_locker_desk(database_url, workers=workers, instance_dir=instance_dir,
                                              password_salt=password_salt, env=SERVER_ENV,
                                              log_path=log_path)
    try:
        log(f"gunicorn {workers} workers at {base_url} (log {log_path}); signing in {users} desks as "
            f"{DESK_USER}", flush=True)
        sessions = [login_locker_desk(base_url, DESK_USER, DEMO_PASSWORD) for _ in range(users)]
        start = time.monotonic()
        counted_from, stop_at = start + warmup, start + warmup + seconds
        desks = [Desk(number, base_url, session, inputs, refusals, seed, stop_at, counted_from, think_ms)
                 for number, session in enumerate(sessions)]
        threads = [threading.Thread(target=desk.run, name=f"desk-{desk.number}", daemon=True)
                   for desk in desks]
        for thread in threads:
            thread.start()
        time.sleep(max(0.0, counted_from - time.monotonic()))
        cpu = CpuMeter()
        log(f"warm-up {warmup} s done; measuring {seconds} s …", flush=True)
        for thread in threads:
            thread.join(timeout=max(0.0, stop_at - time.monotonic()) + REQUEST_TIMEOUT + 5)
        cpu_figures = cpu.read()
        measured = time.monotonic() - counted_from
    finally:
        stop_server()
    access_5xx, tracebacks = server_errors(log_path)
    samples = [sample for desk in desks for sample in desk.samples if sample[0] >= counted_from]
    outcomes = sum((desk.outcomes for desk in desks), Counter())
    by_kind = {kind: figures([s for s in samples if s[1] == kind]) for kind in KINDS}
    errors = Counter(f"{s[1]}: {s[4]}" for s in samples if s[4])
    total = figures(samples)
    actions = sum(outcomes[name] for name in ("assigned + cash", "payment taken", "released"))
    over = [kind for kind, figure in by_kind.items() if figure.get("p95_ms", 0) > TARGET_P95_MS]
    passed = total["errors"] == 0 and total.get("p95_ms", math.inf) <= TARGET_P95_MS
    results = {
        "meta": {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
                 "database": redacted(database_url), "users": users, "seconds": seconds,
                 "warmup_seconds": warmup, "gunicorn_workers": workers, "user": DESK_USER,
                 "think_ms": list(think_ms), "server_env": SERVER_ENV, "gunicorn_log": str(log_path),
                 "measured_seconds": round(measured, 1), "cpu": cpu_figures},
        "target": {"errors": 0, "p95_ms": TARGET_P95_MS},
        "verdict": "PASS" if passed else "FAIL",
        "kinds_over_p95_target": over,
        "total": total,
        "requests_per_second": round(total["count"] / measured, 1),
        "desk_actions_per_minute": round(actions * 60 / measured, 1),
        "rounds": sum(desk.rounds_counted for desk in desks),
        "kinds": by_kind,
        "outcomes": dict(outcomes.most_common()),
        "errors": dict(errors.most_common()),
        "server_5xx_lines": access_5xx[:20],
        "server_tracebacks": tracebacks,
    }
    return results


def render(results):
    """The report as text: a table per kind, totals, throughput, outcomes, errors and the verdict."""
    meta = results["meta"]
    lines = [f"{meta['users']} desks × {meta['measured_seconds']} s against {meta['database']}, gunicorn "
             f"{meta['gunicorn_workers']} workers, think time {meta['think_ms'][0]}–{meta['think_ms'][1]} ms",
             "",
             f"{'kind':<22}{'count':>7}{'errors':>8}{'refused':>9}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}"]

    def row(name, figure):
        times = "".join(f"{figure[key]:>9.1f}" if key in figure else f"{'—':>9}"
                        for key in ("p50_ms", "p95_ms", "max_ms"))
        return f"{name:<22}{figure['count']:>7}{figure['errors']:>8}{figure['refused']:>9}{times}"

    lines += [row(kind, figure) for kind, figure in results["kinds"].items() if figure["count"]]
    lines += [row("ALL", results["total"]), ""]
    cpu = meta["cpu"]
    lines.append(f"throughput: {results['requests_per_second']} requests/s, "
                 f"{results['desk_actions_per_minute']} desk actions/min "
                 f"(assignments + payments + releases), {results['rounds']} rounds")
    lines.append(f"CPU: machine {cpu.get('machine_busy_percent')} % busy of {cpu['cpus']} cores, load "
                 f"average {cpu['load_average_1min']}; the load generator itself used "
                 f"{cpu['load_generator_cores']} cores")
    lines.append("outcomes: " + ", ".join(f"{name} {count}" for name, count in results["outcomes"].items()))
    if results["errors"]:
        lines.append("errors:")
        lines += [f"  {count} × {text}" for text, count in results["errors"].items()]
    if results["server_5xx_lines"]:
        lines.append(f"gunicorn access log, 5xx answers (first {len(results['server_5xx_lines'])}):")
        lines += [f"  {line}" for line in results["server_5xx_lines"][:5]]
    for traceback in results["server_tracebacks"]:
        lines += ["traceback in the gunicorn log:", traceback]
    total, target, over = results["total"], results["target"]["p95_ms"], results["kinds_over_p95_target"]
    lines.append("")
    lines.append(f"verdict: {results['verdict']} against \"{meta['users']} desk users, 0 errors, p95 ≤ "
                 f"{target} ms\": {total['errors']} errors, p95 {total.get('p95_ms')} ms"
                 + (f"; kinds over {target} ms at p95: " + ", ".join(over) if over else ""))
    if meta.get("kept_instance_dir"):
        lines.append(f"kept: .venv/bin/python bench/load.py --database-url {meta['database']} "
                     f"--instance-dir {meta['kept_instance_dir']}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url",
                        help="SQLAlchemy URL of a demo database (default: build a SQLite one)")
    parser.add_argument("--instance-dir", help="the instance folder the database was loaded with (its salt)")
    parser.add_argument("--password-salt", default=os.environ.get("PASSWORD_SALT"),
                        help="or the salt itself (default: $PASSWORD_SALT)")
    parser.add_argument("--build", action="store_true",
                        help="load the demo data into --database-url first (it must have no staff yet)")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=5, help="seconds of load not counted first")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--lockers", type=int, default=2000, help="demo data size when building")
    parser.add_argument("--clients", type=int, default=20000, help="demo data size when building")
    parser.add_argument("--keep", action="store_true", help="keep the temporary instance folder built")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    results = run(database_url=args.database_url, instance_dir=args.instance_dir, users=args.users,
                  seconds=args.seconds, warmup=args.warmup, workers=args.workers, lockers=args.lockers,
                  clients=args.clients, build=args.build, keep=args.keep, password_salt=args.password_salt,
                  seed=args.seed)
    print(render(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        print(f"written: {args.json}")
    return 0 if results["verdict"] == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
