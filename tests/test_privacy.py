"""Privacy (SPEC S5): a client's data export, deletion requests that anonymise, the consent log."""

import io
import json
import re
import zipfile
from datetime import date
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import ActivityAction
from app.models import ActivityLog
from app.models import Channel
from app.models import Client
from app.models import ClientNote
from app.models import ConsentChange
from app.models import Coupon
from app.models import CouponKind
from app.models import CouponRedemption
from app.models import DeletionRequest
from app.models import DeletionStatus
from app.models import DepositEntry
from app.models import Gateway
from app.models import GatewayStatus
from app.models import GatewayTransaction
from app.models import Invoice
from app.models import Key
from app.models import LostItem
from app.models import MaintenanceTicket
from app.models import MessageKind
from app.models import MessageStatus
from app.models import Notification
from app.models import Payment
from app.models import PaymentMethod
from app.models import Rental
from app.models import RentalTerm
from app.models import Tag
from app.models import TermsSignature
from app.models import WaitlistEntry
from app.models import WaitlistStatus
from app.models import ZoneKind
from app.models import utcnow
from app.services import billing
from app.services import client_search
from app.services import clients
from app.services import clock
from app.services import handover
from app.services import keys
from app.services import notifications
from app.services import privacy
from app.services import quick_search
from app.services import rentals
from app.services import uploads
from jobs.privacy import anonymise_due_clients
from tests.test_registration import jpeg_bytes
from tests.test_registration import publish
from tests.test_registration import signature_url

NAME = "Shirin Sultana"
PHONE = "+8801819555666"
EMAIL = "shirin.sultana@example.com"
NID = "19851234567890"


def _registered(desk, branch, **fields):
    """Shirin registered at the desk: photo, ID scan, signed terms, a tag, every detail."""
    terms = clients.current_terms() or publish(desk)
    tag = Tag(name=f"Corporate {branch.code}")
    db.session.add(tag)
    db.session.commit()
    details = dict(full_name=NAME, phone="01819-555666", email=EMAIL, nid=NID,
                   address="House 7, Road 3, Dhanmondi", notes="Prefers a top-row locker",
                   date_of_birth=date(1985, 3, 1), emergency_contact_name="Habib Sultan",
                   emergency_contact_phone="01911-222333", tier="Gold", tag_ids=[tag.id],
                   photo=jpeg_bytes(), id_scan=jpeg_bytes(colour="navy"),
                   signature=signature_url(), terms_version_id=terms.id)
    details.update(fields)
    client = clients.register_client(branch_id=branch.id, by_user_id=None, **details)
    clients.add_note(client.id, "Asked about the women's sauna hours; call Habib if late.",
                     by_user_id=None)
    return client


def _a_month_at_the_desk(desk, client):
    """A month's locker paid in cash, the key issued for ৳500 and returned with a full refund."""
    zone = desk.make_zone(branch=client.branch, kind=ZoneKind.FAMILY)
    locker = desk.make_locker(zone=zone)
    key = Key(locker=locker, tag=keys.key_tag_for(locker.branch, locker.number))
    db.session.add(key)
    db.session.commit()
    rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=None,
                            pay_now=PaymentMethod.CASH)
    handover.issue_key(locker.id, key.id, deposit_poisha=50000, by_user_id=None)
    handover.return_key(key.id, refund_poisha=50000, by_user_id=None)
    message = Notification(dedupe_key=f"test:{client.id}", kind=MessageKind.RECEIPT,
                           channel=Channel.SMS, language=client.preferred_language,
                           branch_id=client.branch_id, client_id=client.id, rental_id=rental.id,
                           status=MessageStatus.SENT, recipient=client.phone,
                           body=f"Dear {client.full_name}, we received your payment.")
    db.session.add(message)
    db.session.commit()
    return db.session.get(Rental, rental.id)


def _long_ago(client):
    """A day before the retention period, counted back from the branch's today.

    The client is made to have registered before it (a request cannot predate that).
    """
    db.session.execute(sa.update(Client).where(Client.id == client.id).values(
        registered_at=utcnow() - timedelta(days=privacy.retention_days() + 10)))
    db.session.commit()
    return clock.branch_today(client.branch_id) - timedelta(days=privacy.retention_days() + 1)


def _money(client_id):
    """Everything financial about the client, as the accountant would compare it."""
    def rows(statement):
        return [tuple(row) for row in db.session.execute(statement).all()]

    return {
        "invoices": rows(sa.select(Invoice.number, Invoice.total_poisha, Invoice.vat_poisha,
                                   Invoice.rental_id).where(Invoice.client_id == client_id)
                         .order_by(Invoice.id)),
        "payments": rows(sa.select(Payment.id, Payment.amount_poisha, Payment.method,
                                   Payment.status, Payment.invoice_id)
                         .where(Payment.client_id == client_id).order_by(Payment.id)),
        "deposits": rows(sa.select(DepositEntry.kind, DepositEntry.amount_poisha)
                         .where(DepositEntry.client_id == client_id).order_by(DepositEntry.id)),
        "rentals": rows(sa.select(Rental.id, Rental.price_poisha, Rental.status, Rental.locker_id)
                        .where(Rental.client_id == client_id).order_by(Rental.id)),
        "paid": db.session.execute(sa.select(sa.func.sum(Payment.amount_poisha))).scalar_one(),
        "invoiced": db.session.execute(sa.select(sa.func.sum(Invoice.total_poisha))).scalar_one(),
        "owed": billing.client_owes(client_id),
        "deposit": handover.deposit_balance(client_id),
    }


def _everything():
    """Every row of every table: what "nothing changed" means."""
    state = {}
    for table in db.metadata.sorted_tables:
        order = list(table.primary_key.columns) or list(table.columns)
        state[table.name] = [tuple(row) for row in db.session.execute(
            sa.select(table).order_by(*order)).all()]
    return state


def _stored(upload_dir, relative):
    return (Path(upload_dir) / relative).exists()


def _export(browser, client):
    return browser.get(f"/admin/privacy/export/{client.id}")


# --- the export ------------------------------------------------------------------------------

def _a_record_in_every_table(desk, client):
    """Whatever else the desk keeps about a client: tickets, lost items, waitlist, coupons, online."""
    rental = _a_month_at_the_desk(desk, client)
    invoice = billing.invoice_of(rental.id)
    lost_photo = uploads.store_image(jpeg_bytes(colour="olive"), "lost_found")
    coupon = Coupon(code="EID-PRIVACY", kind=CouponKind.PERCENT, percent_bp=500)
    db.session.add_all([
        MaintenanceTicket(branch_id=client.branch_id, locker_id=rental.locker_id,
                          client_id=client.id, description="Dented door", cost_poisha=20000),
        LostItem(branch_id=client.branch_id, locker_id=rental.locker_id, rental_id=rental.id,
                 client_id=client.id, description="Blue towel", photo_path=lost_photo,
                 cleaned_out_on=clock.branch_today(client.branch_id)),
        WaitlistEntry(branch_id=client.branch_id, client_id=client.id,
                      zone_id=rental.locker.zone_id, status=WaitlistStatus.ACCEPTED),
        coupon,
        GatewayTransaction(gateway=Gateway.BKASH, status=GatewayStatus.FAILED, invoice=invoice,
                           branch_id=client.branch_id, client_id=client.id,
                           reference=f"LDPRIV{client.id}", amount_poisha=1000,
                           exchanges=[{"call": "create", "sent": {"payerReference": PHONE}}]),
    ])
    db.session.flush()
    db.session.add(CouponRedemption(coupon=coupon, client_id=client.id, invoice=invoice))
    db.session.commit()
    privacy.request_deletion(client.id, requested_by="CLIENT", received_via="EMAIL",
                             by_user_id=None)
    return rental, lost_photo


def test_the_export_holds_a_record_of_every_table_that_refers_to_the_client(desk):
    """A manager downloads one ZIP: a JSON file with the client's records for every table
    whose foreign key points at a client (read from the models, so a table added later fails
    here until it is exported), the files, and a summary in the client's language."""
    branch = desk.make_branch()
    client = _registered(desk, branch)
    other = desk.make_client(branch=branch, name="Someone Else", referred_by_id=client.id)
    rental, lost_photo = _a_record_in_every_table(desk, client)
    browser = desk.login_as("Manager")

    response = _export(browser, client)

    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    assert response.mimetype == "application/zip"
    assert re.match(rf'attachment; filename=client-{client.id}-data-\d{{4}}-\d\d-\d\d\.zip',
                    response.headers["Content-Disposition"])
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    referring = sorted(table.name for table in db.metadata.sorted_tables
                       if any(key.column.table.name == "client" and key.column.name == "id"
                              for key in table.foreign_keys))
    assert len(referring) >= 15
    empty = []
    for name in referring:
        records = json.loads(archive.read(f"data/{name}.json"))["records"]
        if not records:
            empty.append(name)
    assert empty == []
    (own,) = json.loads(archive.read("data/client.json"))["records"]
    assert own["id"] == client.id and own["full_name"] == NAME and own["phone"] == PHONE
    assert other.id not in {row["id"] for row in json.loads(archive.read("data/client.json"))["records"]}
    assert own["branch"] == branch.name and own["date_of_birth"] == "1985-03-01"
    assert own["preferred_language"] == "বাংলা"  # labels in the client's language, not stored names

    (rented,) = json.loads(archive.read("data/rental.json"))["records"]
    assert rented["price_taka"] == f"{rental.price_poisha // 100}.{rental.price_poisha % 100:02d}"
    assert "price_poisha" not in rented and rented["locker"] == rental.locker.number
    assert rented["starts_at"].endswith("+06:00")  # ISO 8601 in the branch's timezone
    lines = json.loads(archive.read("data/invoice_line.json"))["records"]
    assert lines and {line["invoice"] for line in lines} == {billing.invoice_of(rental.id).number}
    assert "nonce" not in archive.read("data/payment_link.json").decode()

    signature = db.session.execute(sa.select(TermsSignature)).scalar_one()
    for relative in (client.photo_path, client.id_scan_path, signature.signature_path, lost_photo):
        assert f"files/{relative}" in archive.namelist(), relative
    assert archive.read(f"files/{client.photo_path}") == (
        Path(desk.app.config["UPLOAD_DIR"]) / client.photo_path).read_bytes()
    summary = archive.read("summary.html").decode()
    assert NAME in summary and 'lang="bn"' in summary
    assert "ফোন" in summary  # "Phone", in the client's language

    logged = db.session.execute(sa.select(ActivityLog).where(
        ActivityLog.action == ActivityAction.DOWNLOADED)).scalar_one()
    assert (logged.model, logged.object_id, logged.user_id) == ("Client", str(client.id),
                                                               browser.user.id)


def test_front_desk_may_not_export_or_see_the_privacy_requests(desk):
    """The export and the requests are a manager's: Front Desk gets 403, and no link on the profile."""
    client = desk.make_client()
    browser = desk.login_as("Front Desk")
    assert _export(browser, client).status_code == 403
    assert browser.get("/admin/privacy/").status_code == 403
    assert browser.get(f"/admin/privacy/new/?client_id={client.id}").status_code == 403
    page = browser.get(f"/admin/client_profile/?id={client.id}").get_data(as_text=True)
    assert "/admin/privacy/export/" not in page and 'id="consent-log-link"' in page
    assert db.session.execute(sa.select(ActivityLog).where(
        ActivityLog.action == ActivityAction.DOWNLOADED)).first() is None


def test_a_manager_limited_to_a_branch_cannot_export_another_branchs_client(desk):
    """Like the profile, another branch's client does not exist for a branch's manager."""
    home, elsewhere = desk.make_branch(), desk.make_branch()
    client = desk.make_client(branch=elsewhere)
    browser = desk.login_as("Manager", branch=home)
    assert _export(browser, client).status_code == 404
    assert browser.get(f"/admin/privacy/new/?client_id={client.id}").status_code == 404
    assert _export(browser, desk.make_client(branch=home)).status_code == 200
    with_logs = db.session.execute(sa.select(ActivityLog.object_id).where(
        ActivityLog.action == ActivityAction.DOWNLOADED)).scalars().all()
    assert str(client.id) not in with_logs


# --- deletion requests -----------------------------------------------------------------------

def test_a_manager_records_a_deletion_request_from_the_profile(desk):
    """Who asked, how and when; the profile then says when it will happen instead of offering it."""
    client = desk.make_client()
    browser = desk.login_as("Manager")
    page = browser.get(f"/admin/client_profile/?id={client.id}").get_data(as_text=True)
    assert f"/admin/privacy/new/?client_id={client.id}" in page
    form = browser.get(f"/admin/privacy/new/?client_id={client.id}")
    assert form.status_code == 200
    response = browser.post(f"/admin/privacy/new/?client_id={client.id}", data={
        "requested_by": "REPRESENTATIVE", "representative": "", "received_via": "LETTER",
        "requested_on": clock.branch_today(client.branch_id).strftime("%d/%m/%Y")})
    assert response.status_code == 200
    assert "Name the person who asked" in response.get_data(as_text=True)
    response = browser.post(f"/admin/privacy/new/?client_id={client.id}", data={
        "requested_by": "REPRESENTATIVE", "representative": "Adv. Kamal Hossain",
        "received_via": "LETTER",
        "requested_on": clock.branch_today(client.branch_id).strftime("%d/%m/%Y")})
    assert response.status_code == 302
    request = db.session.execute(sa.select(DeletionRequest)).scalar_one()
    assert (request.client_id, request.status, request.recorded_by_id, request.representative) == (
        client.id, DeletionStatus.PENDING, browser.user.id, "Adv. Kamal Hossain")
    page = browser.get(f"/admin/client_profile/?id={client.id}").get_data(as_text=True)
    assert 'id="deletion-request-state"' in page and "/admin/privacy/new/" not in page
    again = browser.post(f"/admin/privacy/new/?client_id={client.id}", data={
        "requested_by": "CLIENT", "received_via": "PHONE"}, follow_redirects=True)
    assert "already waiting" in again.get_data(as_text=True)
    assert db.session.execute(sa.select(sa.func.count()).select_from(DeletionRequest)).scalar() == 1


def test_a_request_for_a_client_who_still_rents_a_locker_waits_and_says_why(desk):
    """Past the retention period, a client holding a locker, a key and dues is not anonymised."""
    client = desk.make_client(name=NAME)
    zone = desk.make_zone(branch=client.branch, kind=ZoneKind.FAMILY)
    locker = desk.make_locker(zone=zone)
    key = Key(locker=locker, tag=keys.key_tag_for(locker.branch, locker.number))
    db.session.add(key)
    db.session.commit()
    rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=None)
    handover.issue_key(locker.id, key.id, deposit_poisha=50000, by_user_id=None)
    request = privacy.request_deletion(client.id, requested_by="CLIENT", received_via="IN_PERSON",
                                       requested_on=_long_ago(client), by_user_id=None)

    result = anonymise_due_clients()

    assert result == {"anonymised": [], "waiting": [request.id]}
    db.session.expire_all()
    assert db.session.get(Client, client.id).full_name == NAME
    assert db.session.get(DeletionRequest, request.id).status is DeletionStatus.PENDING
    page = desk.login_as("Manager").get("/admin/privacy/").get_data(as_text=True)
    assert "Cannot be anonymised yet" in page
    assert "still holds a locker" in page and "still has a key" in page
    assert "owes" in page and "key deposit" in page
    assert "Anonymise now" not in page


def test_after_the_retention_period_the_job_anonymises_and_keeps_the_money(desk, upload_dir):
    """The nightly job removes everything that says who Shirin was; invoices, payments, the
    deposit ledger and rentals stay as they were and still add up; search no longer finds her;
    her files are gone; the activity log says it happened without saying what was removed."""
    branch = desk.make_branch()
    client = _registered(desk, branch)
    _a_month_at_the_desk(desk, client)
    gateway_call = GatewayTransaction(
        gateway=Gateway.SSLCOMMERZ, status=GatewayStatus.FAILED,
        invoice_id=db.session.execute(sa.select(Invoice.id)).scalar_one(), branch_id=branch.id,
        client_id=client.id, reference=f"LDANON{client.id}", amount_poisha=1000,
        exchanges=[{"call": "session", "sent": {"cus_name": NAME, "cus_phone": "01819555666",
                                                "cus_email": EMAIL, "total_amount": "10.00"}}])
    db.session.add(gateway_call)
    db.session.commit()
    signature = db.session.execute(sa.select(TermsSignature)).scalar_one()
    files = [client.photo_path, client.id_scan_path, signature.signature_path]
    assert all(_stored(upload_dir, relative) for relative in files)
    before = _money(client.id)
    assert before["owed"] == 0 and before["deposit"] == 0 and before["payments"]
    request = privacy.request_deletion(client.id, requested_by="CLIENT", received_via="EMAIL",
                                       requested_on=_long_ago(client), by_user_id=None)

    result = anonymise_due_clients()

    assert result == {"anonymised": [request.id], "waiting": []}
    db.session.expire_all()
    gone = db.session.get(Client, client.id)
    assert gone.full_name == f"Anonymised client #{client.id}"
    assert gone.phone == f"anon-{client.id}"
    assert [gone.email, gone.nid, gone.address, gone.notes, gone.date_of_birth,
            gone.emergency_contact_name, gone.emergency_contact_phone, gone.photo_path,
            gone.id_scan_path, gone.tier] == [None] * 10
    assert gone.tags == [] and not (gone.opt_in_email or gone.opt_in_sms or gone.opt_in_whatsapp)
    assert db.session.execute(sa.select(ClientNote)).first() is None
    message = db.session.execute(sa.select(Notification)).scalar_one()
    assert (message.body, message.recipient, message.status) == (None, None, MessageStatus.SENT)
    assert not any(_stored(upload_dir, relative) for relative in files)
    assert _money(client.id) == before
    assert db.session.get(DeletionRequest, request.id).status is DeletionStatus.DONE

    for typed in (NAME, "Shirin", "01819-555666", PHONE, EMAIL, NID):
        assert db.session.execute(sa.select(Client.id).where(
            client_search.search_condition(typed))).first() is None, typed
        assert quick_search.clients(typed) == [], typed
    assert NAME not in json.dumps(db.session.get(GatewayTransaction, gateway_call.id).exchanges)

    entry = db.session.execute(sa.select(ActivityLog).where(
        ActivityLog.model == "Client", ActivityLog.object_id == str(client.id),
        ActivityLog.summary.like("%personal data removed%"))).scalar_one()
    assert entry.action is ActivityAction.UPDATE and set(entry.changes) >= {"full_name", "phone"}
    log = json.dumps([(row.summary, row.changes) for row in db.session.execute(
        sa.select(ActivityLog)).scalars()], ensure_ascii=False)
    for old in (NAME, PHONE, "01819555666", EMAIL, NID, "Habib Sultan", "House 7, Road 3",
                "women's sauna"):
        assert old not in log, old
    # The profile keeps the money and history, shows no removed signature and offers no edit.
    profile = desk.login_as("Manager").get(f"/admin/client_profile/?id={client.id}")
    text = profile.get_data(as_text=True)
    assert profile.status_code == 200 and 'class="signature-thumb"' not in text
    assert "removed on" in text and 'id="note-form"' not in text


def test_running_the_job_again_changes_nothing_more(desk):
    """Anonymisation happens once: a second run (or a second press) finds nothing to do."""
    client = _registered(desk, desk.make_branch())
    _a_month_at_the_desk(desk, client)
    request = privacy.request_deletion(client.id, requested_by="CLIENT", received_via="PHONE",
                                       requested_on=_long_ago(client), by_user_id=None)
    assert anonymise_due_clients()["anonymised"] == [request.id]
    db.session.commit()
    after_first = _everything()

    assert anonymise_due_clients() == {"anonymised": [], "waiting": []}
    privacy.anonymise(request.id, by_user_id=None)
    # Nor can staff write the client back in: every door to a client's details refuses.
    from app.services import clients as client_service

    for change in (lambda: client_service.add_note(client.id, "Her new phone", by_user_id=None),
                   lambda: client_service.set_status(client.id, "ACTIVE", by_user_id=None),
                   lambda: client_service.update_client(client.id, {"full_name": "Shirin"},
                                                        by_user_id=None)):
        with pytest.raises(client_service.ClientError, match="removed at their request"):
            change()

    db.session.expire_all()
    assert _everything() == after_first


def test_a_manager_cancels_a_waiting_request_and_the_data_stays(desk):
    """The client changed their mind: cancelled, the job leaves them be; Front Desk may not cancel."""
    client = desk.make_client(name=NAME)
    request = privacy.request_deletion(client.id, requested_by="CLIENT", received_via="PHONE",
                                       requested_on=_long_ago(client), by_user_id=None)
    assert desk.login_as("Front Desk").post(f"/admin/privacy/{request.id}/cancel").status_code == 403
    manager = desk.login_as("Manager")
    page = manager.get("/admin/privacy/").get_data(as_text=True)
    assert "Anonymise now" in page and f"/admin/privacy/{request.id}/cancel" in page

    response = manager.post(f"/admin/privacy/{request.id}/cancel",
                            data={"reason": "Renewed her membership"})

    assert response.status_code == 302
    db.session.expire_all()
    cancelled = db.session.get(DeletionRequest, request.id)
    assert (cancelled.status, cancelled.cancelled_by_id, cancelled.cancel_reason) == (
        DeletionStatus.CANCELLED, manager.user.id, "Renewed her membership")
    assert anonymise_due_clients() == {"anonymised": [], "waiting": []}
    assert db.session.get(Client, client.id).full_name == NAME
    again = manager.post(f"/admin/privacy/{request.id}/cancel", follow_redirects=True)
    assert "Only a waiting request can be cancelled" in again.get_data(as_text=True)
    page = manager.get(f"/admin/client_profile/?id={client.id}").get_data(as_text=True)
    assert f"/admin/privacy/new/?client_id={client.id}" in page


def test_anonymise_now_refuses_a_request_still_in_its_retention_period(desk):
    """Pressing the button early changes nothing: the client may still change their mind."""
    client = desk.make_client(name=NAME)
    request = privacy.request_deletion(client.id, requested_by="CLIENT", received_via="PHONE",
                                       by_user_id=None)
    manager = desk.login_as("Manager")
    response = manager.post(f"/admin/privacy/{request.id}/anonymise", follow_redirects=True)
    assert "retention period" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Client, client.id).full_name == NAME


# --- the consent log -------------------------------------------------------------------------

def test_the_consent_log_shows_every_change_and_signature_in_the_branchs_time(desk):
    """Every yes and no per channel and every terms signature, newest first, at the client's
    branch clock (London here), whatever the reader's own branch."""
    branch = desk.make_branch(timezone="Europe/London")
    client = _registered(desk, branch)
    notifications.set_consent(client.id, Channel.SMS, False, source="desk", by_user_id=None)
    notifications.set_consent(client.id, Channel.WHATSAPP, True, source="desk", by_user_id=None)
    notifications.set_consent(client.id, Channel.SMS, True, source="client form", by_user_id=None)
    changes = db.session.execute(sa.select(ConsentChange).order_by(ConsentChange.id)).scalars().all()
    assert len(changes) == 6  # three at registration, three since

    page = desk.login_as("Front Desk").get(f"/admin/client_consents/?id={client.id}")

    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert text.count('class="consent-change"') == len(changes)
    assert text.count('class="terms-signature"') == 1 and "Locker rules" in text
    assert "Europe/London" in text
    london = clock.to_local(changes[-1].changed_at, "Europe/London").strftime("%d/%m/%Y %H:%M")
    assert london in text
    rows = re.findall(r'<tr class="consent-change"><td>([^<]+)</td><td>([^<]+)</td>', text)
    assert rows[0][1] == "SMS"  # the latest change comes first
    profile = desk.login_as("Front Desk").get(f"/admin/client_profile/?id={client.id}")
    assert f"/admin/client_consents/?id={client.id}" in profile.get_data(as_text=True)


def test_the_consent_log_of_another_branchs_client_is_not_found(desk):
    """Branch staff see their own branch's clients only, here as on the profile."""
    home, elsewhere = desk.make_branch(), desk.make_branch()
    client = desk.make_client(branch=elsewhere)
    browser = desk.login_as("Front Desk", branch=home)
    assert browser.get(f"/admin/client_consents/?id={client.id}").status_code == 404


def test_the_job_is_scheduled_daily():
    """jobs/schedule.py runs the anonymisation once a day."""
    source = (Path(__file__).parent.parent / "jobs" / "schedule.py").read_text()
    assert re.search(r'cron\.register\(anonymise_due_clients, "maintenance", cron="\d+ \d+ \* \* \*"',
                     source)


def test_a_request_cannot_be_dated_in_the_future_or_before_registration(desk):
    """The day the client asked is a real day of theirs at the gym."""
    client = desk.make_client()
    today = clock.branch_today(client.branch_id)
    for day in (today + timedelta(days=1), today - timedelta(days=400)):
        with pytest.raises(privacy.PrivacyError) as refused:
            privacy.request_deletion(client.id, requested_by="CLIENT", received_via="PHONE",
                                     requested_on=day, by_user_id=None)
        assert refused.value.field == "requested_on"
    assert db.session.execute(sa.select(DeletionRequest)).first() is None
