"""Off-site copies of backups to real servers on loopback: SFTP (asyncssh) and S3 (moto) (SPEC S4).

Nothing is mocked: the desk speaks SSH/SFTP to asyncssh's SFTP server and the S3
HTTP protocol, signed, to moto's server with IAM authentication switched on. The
app is pointed at them through its settings only, as an install is.
"""

import asyncio
import json
import socket
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import asyncssh
import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer
from rq import SimpleWorker

from app.extensions import AppContextJob
from app.extensions import db
from app.extensions import rq
from app.services import backup_crypto
from app.services import backup_offsite
from app.services import backups
from app.services import settings
from tests.messaging import free_port

pytestmark = pytest.mark.databases("sqlite")

SFTP_USER, SFTP_PASSWORD = "gym-backups", "sftp-Password-1"
BUCKET = "desk-backups"
TEST_KEY = "bG9ja2VyLWRlc2stb2Zmc2l0ZS10ZXN0LWtleS0zMmI="  # base64 of 32 bytes; tests only


# --- the servers ---------------------------------------------------------------------------------

class PasswordServer(asyncssh.SSHServer):
    """Accepts one user name with one password, as a hosting provider's SFTP account does."""

    def begin_auth(self, username):
        return True

    def password_auth_supported(self):
        return True

    def validate_password(self, username, password):
        return username == SFTP_USER and password == SFTP_PASSWORD


class EventLoopThread:
    """An asyncio loop of its own in a thread, for servers the test talks to from outside it."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def sftp_server(tmp_path):
    """asyncssh's SFTP server on loopback, chrooted to a temporary folder (`.root`)."""
    root = tmp_path / "sftp-root"
    root.mkdir()
    runner = EventLoopThread()
    host_key = asyncssh.generate_private_key("ssh-ed25519")

    async def listen():
        return await asyncssh.listen(
            "127.0.0.1", 0, server_factory=PasswordServer, server_host_keys=[host_key],
            sftp_factory=lambda channel: asyncssh.SFTPServer(channel, chroot=str(root)))

    acceptor = runner.run(listen())
    yield SimpleNamespace(host="127.0.0.1", port=acceptor.get_port(), root=root)

    async def close():
        acceptor.close()
        await acceptor.wait_closed()
        # Sessions a client has just closed may not have noticed yet: end them here.
        sessions = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in sessions:
            task.cancel()
        await asyncio.gather(*sessions, return_exceptions=True)

    runner.run(close())
    runner.stop()


@pytest.fixture(scope="module")
def s3_server():
    """moto's S3 server on loopback with IAM authentication on, a bucket, and a user whose
    access key may use it (`.key`, `.secret`); `.client` reads what arrived."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # The next 3 requests set the account up; every request after them must be signed by a
    # key IAM knows and allowed by its policy.
    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"3", timeout=10)
    setup = {"endpoint_url": endpoint, "region_name": "us-east-1"}
    iam = boto3.client("iam", aws_access_key_id="setup", aws_secret_access_key="setup", **setup)
    iam.create_user(UserName="desk")
    iam.put_user_policy(UserName="desk", PolicyName="backups", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="desk")["AccessKey"]
    client = boto3.client("s3", aws_access_key_id=key["AccessKeyId"],
                          aws_secret_access_key=key["SecretAccessKey"], **setup)
    client.create_bucket(Bucket=BUCKET)
    yield SimpleNamespace(endpoint=endpoint, key=key["AccessKeyId"], secret=key["SecretAccessKey"],
                          client=client)
    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"inf", timeout=10)
    requests.post(f"{endpoint}/moto-api/reset", timeout=10)
    server.stop()


@pytest.fixture
def dead_server():
    """A port that accepts connections and never says a word (a hung server)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def closed_port():
    """A loopback port nobody listens on."""
    return free_port()


# --- helpers ---------------------------------------------------------------------------------------

def use_sftp(server, password=SFTP_PASSWORD, folder="/offsite"):
    settings.put("backup_offsite_url", f"sftp://{server.host}:{server.port}{folder}")
    settings.put("backup_offsite_username", SFTP_USER)
    settings.put("backup_offsite_password", password)
    db.session.commit()


def use_s3(server, folder, secret=None):
    settings.put("backup_offsite_url", f"s3://{BUCKET}/{folder}")
    settings.put("backup_offsite_endpoint", server.endpoint)
    settings.put("backup_offsite_username", server.key)
    settings.put("backup_offsite_password", secret or server.secret)
    db.session.commit()


def s3_names(server, folder):
    listed = server.client.list_objects_v2(Bucket=BUCKET, Prefix=f"{folder}/")
    return sorted(item["Key"].rsplit("/", 1)[-1] for item in listed.get("Contents", []))


def s3_bytes(server, folder, name):
    return server.client.get_object(Bucket=BUCKET, Key=f"{folder}/{name}")["Body"].read()


def run_maintenance_jobs():
    """Run the queued maintenance jobs to the end in this process (a worker in burst mode)."""
    db.session.commit()
    SimpleWorker([rq.queue("maintenance")], connection=rq.connection,
                 job_class=AppContextJob).work(burst=True, with_scheduler=False)
    db.session.expire_all()


def only(copies):
    """The one off-site copy the settings name (the URL; no mounted folder in these tests)."""
    [copy] = copies
    return copy


# --- SFTP --------------------------------------------------------------------------------------------

def test_a_backup_is_copied_whole_to_the_sftp_server(app, desk, sftp_server):
    """Each new backup arrives on the SFTP server byte for byte, with no `.part` left over."""
    desk.make_client()
    use_sftp(sftp_server)
    made = backups.create(reason="command line")
    arrived = sftp_server.root / "offsite" / made.name
    assert arrived.read_bytes() == made.path.read_bytes()
    assert [p.name for p in (sftp_server.root / "offsite").iterdir()] == [made.name]
    copy = only(backups.offsite_copies())
    assert copy.failure is None and copy.archive == made.name and copy.copied_at is not None
    page = desk.login_as("Super Admin").get("/admin/backups/").get_data(as_text=True)
    assert f"sftp://127.0.0.1:{sftp_server.port}/offsite" in page and "offsite-copied" in page


def test_only_the_latest_are_kept_on_the_sftp_server(app, desk, sftp_server):
    """With "backup_keep" 2, the server holds the two newest archives; other files stay."""
    settings.put("backup_keep", 2)
    use_sftp(sftp_server, folder="/~/offsite")  # a folder in the login folder: the root here
    (sftp_server.root / "offsite").mkdir()
    (sftp_server.root / "offsite" / "notes.txt").write_text("not a backup")
    made = [backups.create(reason="command line") for _ in range(3)]
    on_server = sorted(p.name for p in (sftp_server.root / "offsite").iterdir())
    assert on_server == sorted([made[1].name, made[2].name, "notes.txt"])
    assert sorted(b.name for b in backups.all_backups()) == sorted(on_server[:2])


def test_a_wrong_sftp_password_leaves_the_backup_good_and_shows_the_error(app, desk, sftp_server):
    """The local backup is made, listed and sound; the page says the server refused the login."""
    use_sftp(sftp_server, password="not-the-password")
    made = backups.create(reason="command line")
    assert backups.verify(made.path) == made.manifest
    assert [b.name for b in backups.all_backups()] == [made.name]
    assert not (sftp_server.root / "offsite").exists()
    copy = only(backups.offsite_copies())
    assert copy.failure == backup_offsite.OFFSITE_FAILURES["login"]
    assert copy.archive == made.name and copy.copied_at is None
    page = desk.login_as("Super Admin").get("/admin/backups/").get_data(as_text=True)
    assert "offsite-failed" in page and "refused the user name or password" in page


def test_a_hung_sftp_server_fails_the_copy_in_time(app, desk, dead_server, monkeypatch):
    """A server that accepts and never answers fails the copy after the timeout, not never."""
    monkeypatch.setattr(backup_offsite, "OFFSITE_TIMEOUT", 1)
    use_sftp(SimpleNamespace(host="127.0.0.1", port=dead_server))
    started = time.monotonic()
    made = backups.create(reason="command line")
    assert time.monotonic() - started < 15
    assert made.path.is_file()
    assert only(backups.offsite_copies()).failure == backup_offsite.OFFSITE_FAILURES["unreachable"]


def test_a_server_showing_another_host_key_gets_no_password_and_no_archive(
        app, desk, sftp_server):
    """The first host key is kept; a server answering with another one is refused."""
    use_sftp(sftp_server)
    first = backups.create(reason="command line")
    known_hosts = backups.backup_dir() / backup_offsite.KNOWN_HOSTS
    assert f"[127.0.0.1]:{sftp_server.port}" in known_hosts.read_text()
    impostor = asyncssh.generate_private_key("ssh-ed25519")
    host = f"[127.0.0.1]:{sftp_server.port}"
    known_hosts.write_text(f"{host} {impostor.export_public_key().decode()}")
    second = backups.create(reason="command line")
    assert [p.name for p in (sftp_server.root / "offsite").iterdir()] == [first.name]
    assert second.path.is_file()
    assert only(backups.offsite_copies()).failure == backup_offsite.OFFSITE_FAILURES["host key"]


# --- S3 ------------------------------------------------------------------------------------------------

def test_the_backup_job_copies_an_encrypted_archive_to_s3_as_it_is(app, desk, s3_server, monkeypatch):
    """Back up now (a worker's job) puts the encrypted archive in the bucket, byte for byte."""
    monkeypatch.setitem(app.config, "BACKUP_ENCRYPTION_KEY", TEST_KEY)
    folder = f"gym-{uuid.uuid4().hex[:8]}"
    use_s3(s3_server, folder)
    admin = desk.login_as("Super Admin")
    rq.queue("maintenance").empty()
    assert admin.post("/admin/backups/now/").status_code == 302
    run_maintenance_jobs()
    [made] = backups.all_backups()
    assert made.name.endswith(".tar.gz.enc")
    assert s3_names(s3_server, folder) == [made.name]
    stored = s3_bytes(s3_server, folder, made.name)
    assert stored == made.path.read_bytes() and stored.startswith(backup_crypto.MAGIC)
    assert only(backups.offsite_copies()).failure is None


def test_only_the_latest_are_kept_in_the_s3_bucket(app, desk, s3_server):
    """With "backup_keep" 2, the folder holds the two newest archives; other objects stay."""
    folder = f"gym-{uuid.uuid4().hex[:8]}"
    use_s3(s3_server, folder)
    settings.put("backup_keep", 2)
    db.session.commit()
    s3_server.client.put_object(Bucket=BUCKET, Key=f"{folder}/notes.txt", Body=b"not a backup")
    made = [backups.create(reason="command line") for _ in range(3)]
    assert s3_names(s3_server, folder) == sorted([made[1].name, made[2].name, "notes.txt"])


def test_a_large_archive_goes_to_s3_in_parts_and_arrives_whole(app, desk, s3_server, tmp_path):
    """An archive larger than two upload parts is sent as a multipart upload, all of it."""
    folder = f"gym-{uuid.uuid4().hex[:8]}"
    use_s3(s3_server, folder)
    archive = tmp_path / "locker-desk-20260101-020000-abcdef.tar.gz"
    with open(archive, "wb") as handle:
        for _ in range(2 * backup_offsite.S3_PART // (1024 * 1024) + 3):
            handle.write(uuid.uuid4().bytes * 65536)  # 1 MiB
    assert backup_offsite.copy_offsite(archive) == {f"s3://{BUCKET}/{folder}": None}
    assert s3_bytes(s3_server, folder, archive.name) == archive.read_bytes()


def test_a_wrong_s3_secret_leaves_the_backup_good_and_shows_the_error(app, desk, s3_server):
    """S3 refuses the signature: the local backup stands, the page says why the copy failed."""
    folder = f"gym-{uuid.uuid4().hex[:8]}"
    use_s3(s3_server, folder, secret="not-the-secret-key")
    made = backups.create(reason="command line")
    assert backups.verify(made.path) == made.manifest
    assert s3_names(s3_server, folder) == []
    copy = only(backups.offsite_copies())
    assert copy.failure == backup_offsite.OFFSITE_FAILURES["login"] and copy.detail
    page = desk.login_as("Super Admin").get("/admin/backups/").get_data(as_text=True)
    assert "offsite-failed" in page and made.name in page


def test_an_unreachable_s3_service_leaves_the_backup_good_and_shows_the_error(app, desk):
    """Nobody listens at the endpoint: the copy fails at once, the local backup stands."""
    settings.put("backup_offsite_url", f"s3://{BUCKET}/gym")
    settings.put("backup_offsite_endpoint", f"http://127.0.0.1:{closed_port()}")
    settings.put("backup_offsite_username", "key")
    settings.put("backup_offsite_password", "secret")
    db.session.commit()
    made = backups.create(reason="command line")
    assert [b.name for b in backups.all_backups()] == [made.name]
    assert only(backups.offsite_copies()).failure == backup_offsite.OFFSITE_FAILURES["unreachable"]


# --- the page ----------------------------------------------------------------------------------------

def test_copy_the_latest_off_site_now_is_queued_for_a_super_admin(app, desk, sftp_server):
    """After the password is put right, the button copies the latest backup without a new one."""
    use_sftp(sftp_server, password="not-the-password")
    made = backups.create(reason="command line")
    use_sftp(sftp_server)
    admin = desk.login_as("Super Admin")
    assert 'id="offsite-now"' in admin.get("/admin/backups/").get_data(as_text=True)
    rq.queue("maintenance").empty()
    assert admin.post("/admin/backups/offsite/").status_code == 302
    run_maintenance_jobs()
    assert (sftp_server.root / "offsite" / made.name).read_bytes() == made.path.read_bytes()
    assert only(backups.offsite_copies()).failure is None
    assert [b.name for b in backups.all_backups()] == [made.name]
    for role in ("Manager", "Accountant", "Front Desk"):
        assert desk.login_as(role).post("/admin/backups/offsite/").status_code == 403


def test_the_status_is_shared_through_the_backup_folder(app, desk, sftp_server):
    """Another host sharing BACKUP_DIR reads the same last copy (a file beside the archives)."""
    use_sftp(sftp_server)
    made = backups.create(reason="command line")
    status = json.loads((Path(app.config["BACKUP_DIR"]) / backup_offsite.OFFSITE_STATUS).read_text())
    [(target, entry)] = status.items()
    assert target == f"sftp://127.0.0.1:{sftp_server.port}/offsite"
    assert entry["archive"] == made.name and entry["failure"] is None
