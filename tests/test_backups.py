"""Backups: one verified archive of the database and the uploads; listed only when whole (SPEC S4)."""

import base64
import hashlib
import io
import json
import os
import shutil
import tarfile
import time
import tracemalloc

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.extensions import rq
from app.models import ActivityAction
from app.models import ActivityLog
from app.models import Client
from app.services import backups
from app.services import settings


def _upload(app, name="photos/ab/client.jpg", data=b"\xff\xd8 a photo"):
    path = app.config["UPLOAD_DIR"] / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_backup_holds_the_database_and_the_uploads_and_checks_out(app, desk):
    for n in range(3):
        desk.make_client(name=f"Client {n}")
    _upload(app)
    made = backups.create(reason="command line")
    manifest = made.manifest
    assert manifest["tables"]["client"] == 3
    assert manifest["tables"]["alembic_version"] == 1
    assert manifest["schema_revision"] == backups.schema_revision()
    assert manifest["install"] == backups.install_id()
    assert "uploads/photos/ab/client.jpg" in manifest["files"]
    assert backups.DUMP_NAMES[backups.database_kind()] in manifest["files"]
    assert backups.verify(made.path) == manifest
    assert [b.name for b in backups.all_backups()] == [made.name]
    with tarfile.open(made.path) as archive:
        assert archive.getnames()[0] == "manifest.json"
        photo = archive.extractfile("uploads/photos/ab/client.jpg").read()
    assert photo == b"\xff\xd8 a photo"
    entry = db.session.execute(db.select(ActivityLog).where(ActivityLog.model == "Backup")).scalar_one()
    assert made.name in entry.summary


@pytest.mark.databases("sqlite")
def test_a_truncated_altered_or_foreign_archive_is_refused(app, desk, tmp_path):
    desk.make_client()
    _upload(app)
    made = backups.create(reason="command line")
    data = made.path.read_bytes()
    truncated = tmp_path / "locker-desk-truncated.tar.gz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(backups.BackupError, match="damaged or incomplete"):
        backups.verify(truncated)
    # The same manifest with a photo changed after the archive was made.
    altered = tmp_path / "locker-desk-altered.tar.gz"
    with tarfile.open(made.path) as source, tarfile.open(altered, "w:gz") as target:
        for member in source:
            content = source.extractfile(member).read()
            if member.name.startswith("uploads/"):
                content = content.replace(b"photo", b"PHOTO")
            target.addfile(member, io.BytesIO(content))
    with pytest.raises(backups.BackupError, match="checksum"):
        backups.verify(altered)
    # Any other gzipped tar is not a backup of this desk.
    foreign = tmp_path / "locker-desk-foreign.tar.gz"
    with tarfile.open(foreign, "w:gz") as target:
        info = tarfile.TarInfo("manifest.json")
        body = json.dumps({"app": "another-app", "format": 1}).encode()
        info.size = len(body)
        target.addfile(info, io.BytesIO(body))
    with pytest.raises(backups.BackupError, match="not a backup of this desk"):
        backups.verify(foreign)
    # The good one still checks out.
    assert backups.verify(made.path) == made.manifest


@pytest.mark.databases("sqlite")
def test_a_backup_killed_half_way_is_never_listed_and_is_cleaned_up(app, desk, monkeypatch):
    desk.make_client()

    def killed(path):
        raise SystemExit("worker killed while checking the archive")

    monkeypatch.setattr(backups, "verify", killed)
    with pytest.raises(SystemExit):
        backups.create(reason="scheduled")
    folder = backups.backup_dir()
    [part] = folder.glob("*.part")
    assert backups.all_backups() == []
    monkeypatch.undo()
    old = time.time() - backups.STALE_PART.total_seconds() - 60
    os.utime(part, (old, old))
    made = backups.create(reason="scheduled")
    assert not part.exists() and [b.name for b in backups.all_backups()] == [made.name]


@pytest.mark.databases("sqlite")
def test_only_the_latest_are_kept_and_a_copy_goes_off_site(app, desk, tmp_path):
    settings.put("backup_keep", 2)
    settings.put("backup_offsite_dir", str(tmp_path / "share"))
    db.session.commit()
    made = [backups.create(reason="command line") for _ in range(3)]
    kept = [b.name for b in backups.all_backups()]
    assert len(kept) == 2 and made[0].name not in kept
    assert sorted(p.name for p in (tmp_path / "share").iterdir()) == sorted(m.name for m in made)


@pytest.mark.databases("sqlite")
def test_the_schedule_makes_a_backup_only_when_one_is_due(app, desk):
    assert backups.create_if_due() is not None  # none yet: daily by default
    assert backups.create_if_due() is None
    settings.put("backup_schedule", "off")
    db.session.commit()
    for backup in backups.all_backups():
        backup.path.unlink()
    assert backups.create_if_due() is None
    with pytest.raises(settings.InvalidSetting):
        settings.put("backup_schedule", "hourly")


@pytest.mark.databases("sqlite")
def test_the_backups_page_is_a_super_admins(app, desk):
    made = backups.create(reason="scheduled")
    admin = desk.login_as("Super Admin", locale="bn")
    page = admin.get("/admin/backups/").get_data(as_text=True)
    assert made.name in page and "নির্ধারিত সময়ে" in page and 'id="backup-now"' in page
    download = admin.get(f"/admin/backups/download/{made.name}")
    assert download.status_code == 200 and download.data == made.path.read_bytes()
    assert db.session.execute(db.select(ActivityLog).where(
        ActivityLog.action == ActivityAction.DOWNLOADED)).scalar_one().object_id == made.name
    assert admin.get("/admin/backups/download/..%2Fsecret_key.tar.gz").status_code == 404
    queue = rq.queue("maintenance")
    queue.empty()
    assert admin.post("/admin/backups/now/").status_code == 302
    assert queue.count == 1
    for role in ("Manager", "Accountant", "Front Desk"):
        other = desk.login_as(role)
        assert other.get("/admin/backups/").status_code == 403
        assert other.get(f"/admin/backups/download/{made.name}").status_code == 403
        assert other.post("/admin/backups/now/").status_code == 403


@pytest.mark.databases("sqlite")
def test_flask_backup_create_list_and_verify(app, desk):
    desk.make_client()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["backup", "create"])
    assert result.exit_code == 0, result.output
    [made] = backups.all_backups()
    listed = runner.invoke(args=["backup", "list"])
    assert made.name in listed.output and "sqlite" in listed.output
    checked = runner.invoke(args=["backup", "verify", str(made.path)])
    assert checked.exit_code == 0 and "complete" in checked.output
    made.path.write_bytes(made.path.read_bytes()[:100])
    broken = runner.invoke(args=["backup", "verify", str(made.path)])
    assert broken.exit_code != 0 and "damaged" in broken.output
    assert db.session.execute(db.select(Client)).scalars().first() is not None


# --- restoring ---------------------------------------------------------------------------------

def _everything():
    """Every row of every table, in key order: what "the same state" means."""
    state = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            state[table.name] = [tuple(row) for row in conn.execute(
                sa.select(table).order_by(*order)).all()]
    return state


def test_a_restore_puts_back_every_table_and_the_uploads(app, desk):
    """Desk data → backup → rows changed and deleted, a photo replaced → restore → as before."""
    from app.models import PaymentMethod
    from app.models import RentalTerm
    from app.services import billing
    from app.services import rentals

    locker = desk.make_locker()
    client = desk.make_client(branch=locker.branch)
    rental = rentals.assign(locker.id, client.id, RentalTerm.MONTHLY, by_user_id=None,
                            pay_now=PaymentMethod.CASH)
    photo = _upload(app)
    before = _everything()
    made = backups.create(reason="command line")

    db.session.get(Client, client.id).full_name = "Changed Name"
    db.session.commit()
    other_id = desk.make_client(branch=locker.branch, name="Added Later").id
    billing.refund_payment(billing.invoice_of(rental.id).payments[0].id, 1000, "test",
                           by_user_id=None)
    photo.write_bytes(b"another photo")
    _upload(app, "scans/new.pdf", b"%PDF added later")
    assert _everything() != before

    safety = backups.restore(made.name)
    after = _everything()
    assert {table: rows for table, rows in after.items() if table != "activity_log"} == {
        table: rows for table, rows in before.items() if table != "activity_log"}
    # The log is the archive's, plus the entry saying the restore happened.
    assert after["activity_log"][:-1] == before["activity_log"]
    assert "restored from" in after["activity_log"][-1][7]
    assert photo.read_bytes() == b"\xff\xd8 a photo"
    assert not (app.config["UPLOAD_DIR"] / "scans" / "new.pdf").exists()
    assert db.session.get(Client, other_id) is None
    # What the restore replaced is itself a backup that can be restored.
    assert safety.manifest["reason"] == "before restore"
    assert safety.manifest["tables"]["client"] == 2


@pytest.mark.databases("sqlite")
def test_an_archive_of_another_install_or_a_newer_schema_is_refused_and_changes_nothing(
        app, desk, monkeypatch):
    desk.make_client()
    made = backups.create(reason="command line")
    before = _everything()
    monkeypatch.setitem(app.config, "SECURITY_PASSWORD_SALT", "another-install")
    with pytest.raises(backups.BackupError, match="another install"):
        backups.restore(made.name)
    monkeypatch.undo()
    monkeypatch.setattr(backups, "_revisions", lambda: ["0011", "0010"])
    with pytest.raises(backups.BackupError, match="newer version"):
        backups.restore(made.name)
    monkeypatch.undo()
    assert _everything() == before
    assert [b.name for b in backups.all_backups()] == [made.name]  # no safety backup made


@pytest.mark.databases("sqlite")
def test_a_restore_that_fails_half_way_puts_the_state_before_back(app, desk, monkeypatch):
    desk.make_client(name="Before The Backup")
    made = backups.create(reason="command line")
    desk.make_client(name="Added After")
    before = _everything()

    real, calls = backups.RESTORERS["sqlite"], []

    def broken(dump):
        calls.append(dump)
        if len(calls) > 1:
            return real(dump)  # putting the safety backup back works
        db.session.execute(sa.text("DELETE FROM client"))
        db.session.commit()
        raise backups.BackupError("the disk filled up")

    monkeypatch.setitem(backups.RESTORERS, "sqlite", broken)
    with pytest.raises(backups.BackupError):
        backups.restore(made.name)
    monkeypatch.undo()
    assert _everything() == before


@pytest.mark.databases("sqlite")
def test_flask_backup_restore_and_the_restore_button(app, desk):
    desk.make_client(name="Kept")
    made = backups.create(reason="command line")
    desk.make_client(name="Gone")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["backup", "restore", made.name, "--yes"])
    assert result.exit_code == 0, result.output
    assert [c.full_name for c in db.session.execute(db.select(Client)).scalars()] == ["Kept"]
    admin = desk.login_as("Super Admin")
    page = admin.get("/admin/backups/").get_data(as_text=True)
    assert "data-confirm" in page and f"/admin/backups/restore/{made.name}" in page
    queue = rq.queue("maintenance")
    queue.empty()
    assert admin.post(f"/admin/backups/restore/{made.name}").status_code == 302
    assert queue.count == 1
    manager = desk.login_as("Manager")
    assert manager.post(f"/admin/backups/restore/{made.name}").status_code == 403


@pytest.mark.databases("sqlite")
def test_the_dashboard_warns_whoever_keeps_backups_when_one_is_late(app, desk):
    from datetime import timedelta

    from app.models import utcnow

    admin = desk.login_as("Super Admin")
    assert 'id="backup-late"' in admin.get("/admin/").get_data(as_text=True)
    assert 'id="backup-late"' not in desk.login_as("Manager").get("/admin/").get_data(as_text=True)
    made = backups.create(reason="scheduled")
    assert 'id="backup-late"' not in admin.get("/admin/").get_data(as_text=True)
    assert backups.late(now=utcnow() + timedelta(days=2, hours=1))
    assert not backups.late(now=made.created_at + timedelta(hours=30))
    settings.put("backup_schedule", "off")
    db.session.commit()
    assert not backups.late(now=utcnow() + timedelta(days=30))


@pytest.mark.databases("sqlite")
def test_healthz_and_the_jobs_page_tell_the_last_backup(app, desk, client):
    report = client.get("/healthz").get_json()
    assert report["backup"] == {"last_utc": None, "late": True}
    made = backups.create(reason="scheduled")
    report = client.get("/healthz").get_json()
    assert report["backup"] == {"last_utc": made.manifest["created_at"], "late": False}
    page = desk.login_as("Super Admin").get("/admin/queues/").get_data(as_text=True)
    assert 'id="last-backup"' in page


# --- encryption ----------------------------------------------------------------------------------

# Base64 of 32 bytes each; tests only.
KEY = "dGVzdC1iYWNrdXAta2V5LW9uZS0zMi1ieXRlcy1sb24="
OTHER_KEY = "dGVzdC1iYWNrdXAta2V5LXR3by0zMi1ieXRlcy1sb24="


def _random_upload(app, name="scans/large.bin", size=2 * 1024 * 1024 + 512 * 1024):
    """An upload that does not compress, so the archive spans several encrypted chunks."""
    return _upload(app, name, os.urandom(size))


def _encrypt_with(monkeypatch, app, key):
    monkeypatch.setitem(app.config, "BACKUP_ENCRYPTION_KEY", key)


@pytest.mark.databases("sqlite")
def test_an_encrypted_backup_restores_every_table_and_the_uploads(app, desk, monkeypatch):
    """With a key set: backup → rows changed, a photo replaced → restore → as before, and
    nothing of the database or the photos can be read in the archive without the key."""
    from app.services import backup_crypto

    _encrypt_with(monkeypatch, app, KEY)
    desk.make_client(name="Encrypted Client")
    photo = _upload(app)
    large = _random_upload(app)
    before = _everything()
    made = backups.create(reason="command line")
    assert made.name.endswith(".tar.gz.enc") and made.encrypted and made.locked is None
    raw = made.path.read_bytes()
    assert raw.startswith(backup_crypto.MAGIC)
    assert b"manifest.json" not in raw and b"a photo" not in raw and large.read_bytes()[:64] not in raw
    assert backups.verify(made.path) == made.manifest
    assert [(b.name, b.manifest) for b in backups.all_backups()] == [(made.name, made.manifest)]

    desk.make_client(name="Added Later")
    photo.write_bytes(b"another photo")
    large.unlink()
    assert _everything() != before

    safety = backups.restore(made.name)
    after = _everything()
    assert {table: rows for table, rows in after.items() if table != "activity_log"} == {
        table: rows for table, rows in before.items() if table != "activity_log"}
    assert photo.read_bytes() == b"\xff\xd8 a photo"
    assert large.stat().st_size == 2 * 1024 * 1024 + 512 * 1024
    assert safety.encrypted and backups.verify(safety.path)["tables"]["client"] == 2


@pytest.mark.databases("sqlite")
def test_a_plain_backup_made_before_encryption_was_turned_on_still_restores(
        app, desk, monkeypatch):
    """Archives from before the key was set stay plain, listed beside the encrypted ones."""
    desk.make_client(name="Kept")
    plain = backups.create(reason="command line")
    _encrypt_with(monkeypatch, app, KEY)
    desk.make_client(name="Gone")
    encrypted = backups.create(reason="command line")
    assert {b.name: b.encrypted for b in backups.all_backups()} == {
        plain.name: False, encrypted.name: True}
    backups.restore(plain.name)
    assert [c.full_name for c in db.session.execute(db.select(Client)).scalars()] == ["Kept"]


@pytest.mark.databases("sqlite")
def test_an_encrypted_backup_without_its_key_is_listed_but_refused_and_changes_nothing(
        app, desk, monkeypatch):
    """No key, or another key: the archive is still listed and downloadable, restoring it is
    refused with a message saying which, and nothing changes."""
    _encrypt_with(monkeypatch, app, KEY)
    desk.make_client()
    made = backups.create(reason="scheduled")

    _encrypt_with(monkeypatch, app, "")
    [listed] = backups.all_backups()
    assert listed.name == made.name and "has no key" in str(listed.locked)
    assert listed.created_at == made.created_at and listed.manifest["reason"] == "scheduled"
    _encrypt_with(monkeypatch, app, OTHER_KEY)
    admin = desk.login_as("Super Admin")
    page = admin.get("/admin/backups/").get_data(as_text=True)
    assert "backup-locked" in page and f"/admin/backups/restore/{made.name}" not in page
    assert admin.get(f"/admin/backups/download/{made.name}").data == made.path.read_bytes()
    refused = admin.post(f"/admin/backups/restore/{made.name}", follow_redirects=True)
    assert "made with another encryption key" in refused.get_data(as_text=True)
    broken = app.test_cli_runner().invoke(args=["backup", "verify", str(made.path)])
    assert broken.exit_code != 0 and "another encryption key" in broken.output

    before = _everything()
    with pytest.raises(backups.BackupError, match="made with another encryption key"):
        backups.restore(made.name)
    with pytest.raises(backups.BackupError, match="made with another encryption key"):
        backups.verify(made.path)
    _encrypt_with(monkeypatch, app, "")
    with pytest.raises(backups.BackupError, match="has no key"):
        backups.restore(made.name)
    assert _everything() == before
    assert [b.name for b in backups.all_backups()] == [made.name]  # no safety backup made

    # The new key first, the old one after it: old archives open again.
    _encrypt_with(monkeypatch, app, f"{OTHER_KEY},{KEY}")
    assert backups.verify(made.path) == made.manifest


@pytest.mark.databases("sqlite")
def test_a_truncated_or_tampered_encrypted_backup_is_refused_and_changes_nothing(
        app, desk, monkeypatch):
    """Cut at a chunk boundary or inside a chunk, a byte changed in a chunk or in the header:
    each is refused as damaged before anything is replaced."""
    from app.services import backup_crypto

    _encrypt_with(monkeypatch, app, KEY)
    desk.make_client()
    _random_upload(app)
    made = backups.create(reason="command line")
    before = _everything()
    data = made.path.read_bytes()
    with open(made.path, "rb") as handle:
        header, _fields, _label = backup_crypto.read_header(handle)
    sealed = backup_crypto.CHUNK + backup_crypto.TAG
    whole_chunks = (len(data) - len(header)) // sealed
    assert whole_chunks >= 2

    def flipped(data, at):
        return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]

    spoilt = {
        "cut-at-chunk": data[:len(header) + whole_chunks * sealed],
        "cut-in-chunk": data[:len(header) + sealed + 1000],
        "byte-in-chunk": flipped(data, len(header) + sealed + 12345),
        "byte-in-last-tag": flipped(data, len(data) - 1),
        "label-in-header": data.replace(b'"command line"', b'"command-line"', 1),
    }
    assert spoilt["label-in-header"] != data
    folder = backups.backup_dir()
    for n, (what, content) in enumerate(spoilt.items()):
        name = f"locker-desk-20260101-00000{n}-{what}.tar.gz.enc"
        (folder / name).write_bytes(content)
        with pytest.raises(backups.BackupError, match="damaged or incomplete"):
            backups.restore(name)
        with pytest.raises(backups.BackupError, match="damaged or incomplete"):
            backups.verify(folder / name)
    assert _everything() == before
    assert len(list(folder.glob("*.tar.gz.enc"))) == len(spoilt) + 1  # no safety backup made
    assert backups.verify(made.path) == made.manifest


@pytest.mark.databases("sqlite")
def test_a_key_that_is_not_32_bytes_of_base64_refuses_the_backup_and_says_so(
        app, desk, monkeypatch):
    """A mistyped key never lets a backup be written in clear; the page tells the admin."""
    _encrypt_with(monkeypatch, app, "too-short")
    with pytest.raises(backups.BackupError, match="BACKUP_ENCRYPTION_KEY is not valid"):
        backups.create(reason="command line")
    assert backups.all_backups() == []
    page = desk.login_as("Super Admin").get("/admin/backups/").get_data(as_text=True)
    assert 'class="alert alert-danger" id="backup-encryption"' in page


@pytest.mark.databases("sqlite")
def test_the_backups_page_says_which_backups_are_encrypted_and_with_which_key(
        app, desk, monkeypatch):
    from app.services import backup_crypto

    admin = desk.login_as("Super Admin")
    assert "are not encrypted" in admin.get("/admin/backups/").get_data(as_text=True)
    _encrypt_with(monkeypatch, app, KEY)
    backups.create(reason="command line")
    page = admin.get("/admin/backups/").get_data(as_text=True)
    key_id = backup_crypto.key_id(base64.b64decode(KEY)).hex()
    assert key_id in page and "backup-encrypted" in page


def test_encryption_holds_about_one_chunk_in_memory_however_large_the_archive(tmp_path):
    """50 MB in and out through the encrypted format with a peak of a few MB, not 50."""
    from app.services import backup_crypto

    size = 50 * 1024 * 1024
    source, sealed = tmp_path / "plain.bin", tmp_path / "sealed.bin"
    with open(source, "wb") as handle:
        for _ in range(size // (1024 * 1024)):
            handle.write(os.urandom(1024 * 1024))
    key = base64.b64decode(KEY)
    tracemalloc.start()
    try:
        with open(source, "rb") as plain, open(sealed, "wb") as target:
            writer = backup_crypto.EncryptingWriter(target, key, {"app": "locker-desk"})
            shutil.copyfileobj(plain, writer, 64 * 1024)
            writer.close()
        _, writing_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        digest = hashlib.sha256()
        with open(sealed, "rb") as handle:
            reader = backup_crypto.DecryptingReader(handle, {backup_crypto.key_id(key): key})
            for chunk in iter(lambda: reader.read(64 * 1024), b""):
                digest.update(chunk)
        _, reading_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sealed.stat().st_size > size
    assert digest.hexdigest() == hashlib.sha256(source.read_bytes()).hexdigest()
    assert writing_peak < 8 * 1024 * 1024, f"writing peaked at {writing_peak} bytes"
    assert reading_peak < 8 * 1024 * 1024, f"reading peaked at {reading_peak} bytes"


@pytest.mark.slow
@pytest.mark.databases("sqlite")
def test_an_encrypted_backup_of_a_50_mb_upload_is_made_and_checked_in_a_few_mb(
        app, desk, monkeypatch):
    """The whole way, tar and gzip included: making, checking and reading back stream."""
    _encrypt_with(monkeypatch, app, KEY)
    _random_upload(app, "scans/large.bin", 50 * 1024 * 1024)
    tracemalloc.start()
    try:
        made = backups.create(reason="command line")
        _, making_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        backups.verify(made.path)
        _, checking_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert made.size > 50 * 1024 * 1024
    assert making_peak < 16 * 1024 * 1024, f"making peaked at {making_peak} bytes"
    assert checking_peak < 16 * 1024 * 1024, f"checking peaked at {checking_peak} bytes"
