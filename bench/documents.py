"""Invoice PDF render time (SPEC P3; the issue's target is ≤ 500 ms per invoice).

    .venv/bin/python bench/documents.py [--runs 30] [--images app/static/docs]

Builds a fresh SQLite database in a temporary folder (or uses DATABASE_URL),
adds a branch, a client and a five-line invoice with a payment against it (as
the desk would have them), then renders the A4 invoice PDF `--runs` times with
app.services.documents.invoice_pdf — the database read, the template, the
WeasyPrint layout with the bundled fonts and the PDF bytes — and prints the
first (cold) render and p50/p95 of the rest in milliseconds, then the same
for the 80 mm receipt (laid out twice: once to measure, once cut to length).

--images FOLDER also writes invoice-sample.png and receipt-sample.png there
(pdftoppm -png -r 110, page 1); the receipt with Bengali digits on.
Figures go to bench/README.md by hand, with the command that produced them.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from datetime import datetime
from pathlib import Path


def percentile(values, share):
    """The value below which `share` of `values` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))]


def timed(render, runs):
    """(cold ms, [warm ms…]) of `runs` + 1 calls of `render`."""
    times = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        render()
        times.append((time.perf_counter() - started) * 1000)
    return times[0], times[1:]


def to_png(pdf, target):
    """Page 1 of `pdf` as a PNG at 110 dpi."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "document.pdf"
        source.write_bytes(pdf)
        subprocess.run(["pdftoppm", "-png", "-r", "110", "-f", "1", "-l", "1", "-singlefile",
                        str(source), str(Path(folder) / "page")], check=True, timeout=60)
        target.write_bytes((Path(folder) / "page.png").read_bytes())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--images", help="write invoice-sample.png and receipt-sample.png here")
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    workdir = Path(tempfile.mkdtemp(prefix="locker-bench-documents-"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite'}")
    os.environ["LOCKER_INSTANCE_DIR"] = str(workdir)

    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.models import Branch
    from app.models import Client
    from app.models import Gender
    from app.models import Instalment
    from app.models import Invoice
    from app.models import InvoiceLine
    from app.models import Payment
    from app.models import PaymentMethod
    from app.services import documents
    from app.services import settings
    from app.services.access import ensure_default_roles

    app = create_app({"LOCKER_ENV": "development",
                      "SQLALCHEMY_DATABASE_URI": os.environ["DATABASE_URL"]})
    with app.app_context(), app.test_request_context():
        upgrade()
        ensure_default_roles()
        settings.ensure_defaults()
        for key, value in (("company_name", "Dhanmondi Fitness Ltd · ধানমন্ডি ফিটনেস"),
                           ("company_address", "House 12, Road 5, Dhanmondi, Dhaka 1205"),
                           ("company_bin", "000123456-0101")):
            settings.put(key, value)
        branch = Branch(name="Dhanmondi", code="DHN")
        client = Client(branch=branch, full_name="রুমানা আক্তার (Rumana Akter)",
                        phone="+8801711123456", gender=Gender.FEMALE)
        invoice = Invoice(
            number="INV-2026-000001", branch=branch, client=client,
            issued_at=datetime(2026, 3, 17, 8, 5), due_on=date(2026, 4, 1),
            subtotal_poisha=960000, discount_poisha=96000, vat_poisha=129600,
            total_poisha=993600,
            lines=[InvoiceLine(position=1, kind="rent", description="Locker M-014, yearly",
                               amount_poisha=960000),
                   InvoiceLine(position=2, kind="discount", description="Yearly −10 %",
                               amount_poisha=-96000),
                   InvoiceLine(position=3, kind="vat", description="VAT 15 %",
                               amount_poisha=129600)],
            instalments=[Instalment(due_on=date(2026, 4, 1), amount_poisha=496800),
                         Instalment(due_on=date(2026, 10, 1), amount_poisha=496800)],
        )
        payment = Payment(branch=branch, client=client, invoice=invoice, amount_poisha=496800,
                          method=PaymentMethod.BKASH, reference="8N7A6B5C4D",
                          paid_at=datetime(2026, 3, 17, 8, 10))
        db.session.add_all([branch, client, invoice, payment])
        db.session.commit()
        print(f"{args.runs} runs; database {db.engine.url}")

        for name, render in (("invoice (A4)", lambda: documents.invoice_pdf(invoice.id)),
                             ("receipt (80 mm)", lambda: documents.receipt_pdf(payment.id))):
            cold, warm = timed(render, args.runs)
            print(f"{name:16} cold {cold:7.1f} ms   p50 {statistics.median(warm):7.1f} ms   "
                  f"p95 {percentile(warm, 0.95):7.1f} ms   max {max(warm):7.1f} ms")
        print(f"invoice PDF {len(documents.invoice_pdf(invoice.id)):,} bytes")

        if args.images:
            folder = Path(args.images)
            folder.mkdir(parents=True, exist_ok=True)
            to_png(documents.invoice_pdf(invoice.id), folder / "invoice-sample.png")
            settings.put("receipt_bengali_digits", "1")
            db.session.commit()
            to_png(documents.receipt_pdf(payment.id), folder / "receipt-sample.png")
            print(f"wrote {folder / 'invoice-sample.png'} and {folder / 'receipt-sample.png'}")


if __name__ == "__main__":
    main()
