"""Bulk client import at the size of the issue: 10,000 rows, 37 of them bad (SPEC C4).

    .venv/bin/python bench/imports.py [--rows 10000] [--keep FOLDER]

Builds a fresh SQLite database in a temporary folder (or uses DATABASE_URL),
writes a deterministic client CSV with Bangladeshi names and mobile numbers in
which exactly 37 rows are bad in different ways, and runs it through
app.services.imports as the desk would: the dry run must report exactly those
rows, and the commit must refuse and import nothing. Then the fixed file (the
bad rows removed) is checked and committed, and imported once more (every row
now updates a client). Prints each step's time in seconds. Figures go to
bench/README.md by hand, with the command that produced them.

`client_rows()` is also used by tests/test_imports.py.
"""

import argparse
import csv
import io
import os
import random
import sys
import tempfile
import time
from datetime import date
from datetime import timedelta
from pathlib import Path

HEADERS = ["Full name", "Mobile", "Email", "NID", "Gender", "Date of birth", "Address",
           "Emergency contact", "Emergency contact phone", "Tier", "Notes"]
MALE = ["Abdul Karim", "Md. Rahim", "Arif", "Imran", "Jahid", "Kamal", "Mahmud", "Masud",
        "Nazmul", "Rakib", "Sabbir", "Mehedi", "Tanvir", "Shakil", "Habib", "রহিম", "করিম",
        "সাকিব", "তানভীর"]
FEMALE = ["Ayesha", "Farhana", "Fatema", "Jannatul", "Nusrat", "Rumana", "Sadia", "Sharmin",
          "Tahmina", "Shirin", "Lamia", "Rokeya", "নুসরাত", "ফারহানা", "তাহমিনা"]
SURNAMES = ["Ahmed", "Akter", "Alam", "Begum", "Chowdhury", "Hossain", "Islam", "Khan", "Miah",
            "Rahman", "Sarker", "Talukder", "Uddin", "Haque", "Kabir", "উদ্দিন", "হোসেন",
            "আক্তার", "রহমান"]
AREAS = ["Dhanmondi", "Gulshan", "Banani", "Mirpur", "Uttara", "Mohammadpur", "Bashundhara",
         "ধানমন্ডি, ঢাকা", "মিরপুর ১০, ঢাকা"]
PREFIXES = ["013", "014", "015", "016", "017", "018", "019"]
TIERS = ["", "Standard", "Premium", "VIP", "Corporate"]
BAD_COUNT = 37

# One bad value per faulty row: (column, value), 29 rows in all. The other 8
# bad rows are 2 pairs sharing a phone and 2 pairs sharing an NID.
SINGLE_FAULTS = (
    [("Mobile", v) for v in ("12345", "0171234", "02-9123456", "+44 7911 123456", "")]
    + [("Full name", v) for v in ("", "   ", "", " ")]
    + [("Full name", "Mohammad " * 20)] * 3
    + [("Email", v) for v in ("rahim@", "karim at gmail.com", "nusrat@@mail.com", "@example.com")]
    + [("Gender", v) for v in ("X", "unknown", "ছেলে-মেয়ে", "2")]
    + [("Date of birth", v) for v in ("31/02/1990", "1990-13-01", "yesterday", "12.05.1990")]
    + [("Date of birth", (date.today() + timedelta(days=d)).isoformat()) for d in (30, 400, 3650)]
    + [("Emergency contact phone", v) for v in ("999", "+1 212 555 0100")]
)
assert len(SINGLE_FAULTS) + 8 == BAD_COUNT


def _phone(index, style):
    digits = f"{PREFIXES[index % len(PREFIXES)]}{index:08d}"
    if style == 0:
        return digits
    if style == 1:
        return f"+880 {digits[1:5]}-{digits[5:]}"
    return f"880{digits[1:]}"


def _good_row(index, rng):
    female = rng.random() < 0.45
    first = rng.choice(FEMALE if female else MALE)
    name = f"{first} {rng.choice(SURNAMES)}"
    born = date(1960, 1, 1) + timedelta(days=rng.randrange(48 * 365))
    dob = born.isoformat() if index % 2 else born.strftime("%d/%m/%Y")
    gender = rng.choice(["Female", "F", "মহিলা"] if female else ["Male", "M", "পুরুষ"])
    has_email = first.isascii() and index % 2 == 0
    email = f"{first.split()[-1].lower()}.{index}@example.com" if has_email else ""
    return {
        "Full name": name,
        "Mobile": _phone(index, index % 3),
        "Email": email,
        "NID": str(1990000000000 + index * 7) if index % 3 else "",
        "Gender": gender,
        "Date of birth": dob,
        "Address": f"House {rng.randrange(1, 99)}, Road {rng.randrange(1, 30)}, "
                   f"{rng.choice(AREAS)}",
        "Emergency contact": rng.choice(MALE + FEMALE) if index % 4 == 0 else "",
        "Emergency contact phone": _phone(index + 5_000_000, 0) if index % 4 == 0 else "",
        "Tier": rng.choice(TIERS),
        "Notes": "",
    }


def client_rows(count=10_000, seed=2026):
    """(HEADERS, rows, bad): `count` client rows as lists; `bad` is the set of bad row numbers.

    Row numbers are as a spreadsheet shows them (the header is row 1). Two
    rows hold hostile text that must import as plain text: a formula and HTML.
    """
    rng = random.Random(seed)
    rows = [_good_row(index, rng) for index in range(count)]
    rows[10]["Full name"] = "=cmd|' /C calc'!A0"
    rows[11]["Full name"] = "<b>Bold</b> Rahman"
    chosen = rng.sample(range(20, count), BAD_COUNT)
    singles, pairs = chosen[:len(SINGLE_FAULTS)], chosen[len(SINGLE_FAULTS):]
    for index, (column, value) in zip(singles, SINGLE_FAULTS, strict=True):
        rows[index][column] = value
    for pair, column in zip(range(0, 8, 2), ("Mobile", "Mobile", "NID", "NID"), strict=True):
        first, second = pairs[pair], pairs[pair + 1]
        if column == "NID" and not rows[first]["NID"]:
            rows[first]["NID"] = str(2990000000000 + first)
        # The copy is written differently but means the same number.
        value = rows[first][column]
        rows[second][column] = _phone(first, (first + 1) % 3) if column == "Mobile" else value
    bad = {index + 2 for index in chosen}
    return HEADERS, [[row[h] for h in HEADERS] for row in rows], bad


def to_csv(headers, rows, delimiter=","):
    """UTF-8 CSV bytes with a BOM, as Excel's "CSV UTF-8" saves them."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def _timed(label, work):
    started = time.perf_counter()
    try:
        return work()
    finally:
        print(f"{label:<48}{time.perf_counter() - started:>8.2f} s")


def main():
    """Generate the files, then time the dry runs and the commits."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--keep", help="also write the generated CSV files to this folder")
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    workdir = Path(tempfile.mkdtemp(prefix="locker-bench-imports-"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite'}")
    os.environ["LOCKER_INSTANCE_DIR"] = str(workdir)

    from flask_migrate import upgrade
    from flask_security import hash_password

    from app import create_app
    from app.extensions import db
    from app.extensions import security
    from app.models import ActivityLog
    from app.models import Branch
    from app.models import Client
    from app.services import imports
    from app.services.access import MANAGER
    from app.services.access import ensure_default_roles

    headers, rows, bad = client_rows(args.rows)
    bad_file = to_csv(headers, rows)
    fixed_file = to_csv(headers, [row for number, row in enumerate(rows, start=2)
                                  if number not in bad])
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
        (Path(args.keep) / "clients-with-37-bad-rows.csv").write_bytes(bad_file)
        (Path(args.keep) / "clients.csv").write_bytes(fixed_file)

    app = create_app({"LOCKER_ENV": "development",
                      "SQLALCHEMY_DATABASE_URI": os.environ["DATABASE_URL"]})
    with app.app_context():
        upgrade()
        ensure_default_roles()
        branch = Branch(name="Dhanmondi", code="DHN")
        db.session.add(branch)
        user = security.datastore.create_user(email="manager@bench.local", roles=[MANAGER],
                                              password=hash_password("Bench-Import-2026!"))
        db.session.commit()
        print(f"{args.rows} rows, {len(bad)} bad; database {db.engine.url}")

        def count(model):
            return db.session.execute(db.select(db.func.count()).select_from(model)).scalar_one()

        def run(data, commit):
            token = imports.save_upload(data)
            mapping = imports.guess_mapping(imports.CLIENTS, imports.load_table(token).headers)
            options = {"branch_id": branch.id, "by_user_id": user.id}
            try:
                if not commit:
                    return imports.dry_run(imports.CLIENTS, token, mapping, **options)
                return imports.commit_import(imports.CLIENTS, token, mapping,
                                             filename="clients.csv", **options)
            finally:
                imports.discard(token)

        plan = _timed("dry run, file with bad rows", lambda: run(bad_file, False))
        assert set(plan.bad_rows) == bad, sorted(set(plan.bad_rows) ^ bad)
        print(f"  reported {len(plan.bad_rows)} bad rows, {len(plan.problems)} problems")
        try:
            _timed("commit, file with bad rows (refused)", lambda: run(bad_file, True))
        except imports.ImportFailed as exc:
            assert set(exc.plan.bad_rows) == bad
        else:
            raise AssertionError("the file with bad rows was committed")
        assert count(Client) == 0, "the bad file imported something"
        plan = _timed("dry run, fixed file", lambda: run(fixed_file, False))
        assert plan.ok and plan.created == args.rows - len(bad)
        plan = _timed("commit, fixed file (all new clients)", lambda: run(fixed_file, True))
        print(f"  {plan.created} created, {plan.updated} updated; {count(Client)} clients, "
              f"{count(ActivityLog)} activity entries")
        plan = _timed("commit, fixed file again (all updates)", lambda: run(fixed_file, True))
        print(f"  {plan.created} created, {plan.updated} updated; {count(Client)} clients")


if __name__ == "__main__":
    main()
