"""Off-site copies of finished backups: a mounted folder, SFTP or S3 through fsspec (SPEC S4).

A finished archive is copied to settings "backup_offsite_dir" (a mounted folder:
written as `.part`, then renamed; every archive is kept there) and to
"backup_offsite_url", where only the latest "backup_keep" are kept:

- `sftp://host[:port]/folder` — fsspec's SFTP filesystem (paramiko), user name and
  password from the settings; `/~/folder` is a folder in the login folder. The
  archive is uploaded as `.part`, its size checked, then renamed (posix-rename),
  so the folder never holds half an archive under an archive's name. The server's
  host key is trusted the first time and kept in BACKUP_DIR/offsite-known-hosts;
  a different key later is refused (the password is never sent to an impostor).
- `s3://bucket/folder` — s3fs; access key and secret from the user name and
  password, "backup_offsite_endpoint" for S3-compatible services (MinIO, Wasabi).
  Uploaded under its final key: S3 has no rename, but publishes an object only
  once its upload is whole (one PUT, or a completed multipart upload; s3fs aborts
  a failed one), so no temporary name is needed. The stored size is then checked
  and a wrong one removed.

Every network step waits at most OFFSITE_TIMEOUT seconds, so a dead server fails
the copy instead of holding the worker (the job's own timeout bounds the whole).
A failed copy never fails or removes the local archive: it is logged and written
to `offsite-status.json` beside the archives, which every host sharing
BACKUP_DIR reads, and the Backups page shows it.
"""

import errno
import functools
import json
import logging
import os
import re
import secrets
import shutil
import socket
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l

from app.models import utcnow
from app.services import settings

log = logging.getLogger(__name__)

PART = ".part"
# A `.part` this old off-site belongs to a copy that died: removed by a later copy.
STALE_PART = timedelta(hours=6)

OFFSITE_STATUS = "offsite-status.json"
KNOWN_HOSTS = "offsite-known-hosts"
# Seconds any one step of an off-site copy may wait: connecting, logging in, each read or
# write. A dead server fails the copy after this, never hangs the worker.
OFFSITE_TIMEOUT = 30
# Tries of one S3 request (botocore) and of one s3fs call: a short hiccup is ridden out.
S3_ATTEMPTS = 2
# S3 upload parts: memory holds about one; S3's own minimum is 5 MiB.
S3_PART = 8 * 1024 * 1024
# What the off-site pruning may remove: only archives this desk names so (never other files);
# such names sort by the time they were made.
OFFSITE_ARCHIVE = re.compile(r"locker-desk-\d{8}-\d{6}-[0-9a-f]{6}\.tar\.gz(\.enc)?")
# Why the last copy failed, as the Backups page says it (the server's own words follow).
OFFSITE_FAILURES = {
    "login": _l("the server refused the user name or password"),
    "unreachable": _l("the server could not be reached or did not answer in time"),
    "refused": _l("the server refused to store the archive (permissions, bucket or folder)"),
    "host key": _l("the server showed another host key than on the first copy; if the server "
                   "was really replaced, delete offsite-known-hosts in the backup folder"),
    "other": _l("the copy failed"),
}


class OffsiteHostKeyChanged(Exception):
    """The SFTP server showed another host key than the one kept from the first copy."""


@dataclass(frozen=True)
class OffsiteCopy:
    """The last copy to one off-site target, from the status file."""

    target: str
    archive: str | None = None
    attempted_at: datetime | None = None
    copied_at: datetime | None = None
    copied_archive: str | None = None
    failure: object = None  # translated reason, None when the last copy succeeded
    detail: str | None = None


def copy_offsite(path):
    """Copy a finished archive to each off-site target in the settings, whole or not at all.

    Never raises: a failed copy is logged and written to the status file, and the
    local archive is left as it is. Returns {target: None, or what failed}.
    """
    path = Path(path)
    targets = [(settings.get("backup_offsite_dir"), _copy_to_folder),
               (settings.get("backup_offsite_url"), _copy_to_url)]
    outcome = {}
    for target, copy in targets:
        if not target:
            continue
        try:
            copy(path, target)
        except Exception as exc:  # whatever a server or the network does, the backup stands
            log.exception("Backup %s could not be copied to %s.", path.name, target)
            outcome[target] = exc
        else:
            log.info("Backup %s copied to %s.", path.name, target)
            outcome[target] = None
        _record_offsite(path.parent, target, path.name, outcome[target])
    return outcome


def _copy_to_folder(path, folder):
    """A mounted share: copied under a `.part` name, then renamed."""
    target = Path(folder) / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target.with_name(target.name + PART))
    os.replace(target.with_name(target.name + PART), target)


def _copy_to_url(path, url):
    """SFTP or S3 through fsspec (see the module's docstring), then the latest N kept there."""
    fs, folder, renames = _offsite_filesystem(url, path.parent / KNOWN_HOSTS)
    try:
        target = f"{folder}/{path.name}"
        size = path.stat().st_size
        if renames:
            part = target + PART
            try:
                fs.put_file(str(path), part)
                _check_size(fs, part, size)
                fs.mv(part, target)
            except Exception:
                _quietly(fs.rm, part)
                raise
        else:
            fs.put_file(str(path), target, chunksize=S3_PART, max_concurrency=1)
            try:
                _check_size(fs, target, size)
            except OSError:
                _quietly(fs.rm, target)
                raise
        _prune_offsite(fs, folder, settings.get("backup_keep"))
    finally:
        if renames:
            fs.client.close()


def _offsite_filesystem(url, known_hosts):
    """(fsspec filesystem, folder, whether it renames) for an sftp:// or s3:// URL."""
    parts = urlsplit(url)
    username = settings.get("backup_offsite_username") or unquote(parts.username or "")
    password = settings.get("backup_offsite_password")
    folder = parts.path.rstrip("/")
    if parts.scheme == "sftp":
        fs = _sftp_filesystem()(
            parts.hostname, port=parts.port or 22, username=username or None,
            password=password or None, timeout=OFFSITE_TIMEOUT, banner_timeout=OFFSITE_TIMEOUT,
            auth_timeout=OFFSITE_TIMEOUT, channel_timeout=OFFSITE_TIMEOUT,
            # The password from the settings only: no keys or agent of whoever runs the worker.
            allow_agent=False, look_for_keys=False,
            host_key_policy=_trust_first_key(known_hosts),
            skip_instance_cache=True)
        fs.ftp.get_channel().settimeout(OFFSITE_TIMEOUT)
        if folder == "/~" or folder.startswith("/~/"):
            folder = folder[3:]
        return fs, folder or ".", True
    if parts.scheme != "s3":
        raise ValueError(f"{url} is neither sftp:// nor s3://")
    import s3fs

    fs = s3fs.S3FileSystem(
        key=username or None, secret=password or None,
        endpoint_url=settings.get("backup_offsite_endpoint") or None,
        config_kwargs={"connect_timeout": OFFSITE_TIMEOUT, "read_timeout": OFFSITE_TIMEOUT,
                       "retries": {"max_attempts": S3_ATTEMPTS, "mode": "standard"}},
        skip_instance_cache=True)
    fs.retries = S3_ATTEMPTS
    return fs, f"{parts.netloc.rpartition('@')[2]}{folder}", False


@functools.cache
def _sftp_filesystem():
    """fsspec's SFTP filesystem, closing its connection when logging in fails: paramiko would
    otherwise keep a thread talking to the server after the error (imported when first used:
    paramiko takes most of a second to load)."""
    from fsspec.implementations.sftp import SFTPFileSystem

    class ClosingSFTPFileSystem(SFTPFileSystem):
        def _connect(self):
            try:
                super()._connect()
            except BaseException:
                client = getattr(self, "client", None)
                if client is not None:
                    client.close()
                raise

    return ClosingSFTPFileSystem


def _trust_first_key(known_hosts):
    """paramiko's policy for a host key it does not know: the first key a server shows is kept
    in `known_hosts`; a different one later raises OffsiteHostKeyChanged."""
    import paramiko

    class TrustFirstKey(paramiko.MissingHostKeyPolicy):
        def missing_host_key(self, client, hostname, key):
            known = paramiko.HostKeys()
            if known_hosts.exists():
                known.load(str(known_hosts))
            seen = known.lookup(hostname)
            if seen:
                if any(kept.asbytes() == key.asbytes() for kept in seen.values()):
                    return
                raise OffsiteHostKeyChanged(f"{hostname} shows the {key.get_name()} host key "
                                            f"{key.fingerprint}, not the one kept in {KNOWN_HOSTS}")
            known.add(hostname, key.get_name(), key)
            known.save(str(known_hosts))

    return TrustFirstKey()


def _check_size(fs, path, size):
    stored = fs.info(path)["size"]
    if stored != size:
        raise OSError(f"{path} holds {stored} bytes after the upload, not {size}")


def _quietly(action, *args):
    try:
        action(*args)
    except Exception:  # cleaning up after a failure that is already being reported
        log.warning("Could not clean up %s off-site.", args, exc_info=True)


def _prune_offsite(fs, folder, keep):
    """Keep the latest `keep` archives in the off-site folder (names sort by time), and drop
    `.part` files of copies that died long ago."""
    entries = fs.ls(folder, detail=True)
    names = sorted(name for name in (entry["name"].rsplit("/", 1)[-1] for entry in entries)
                   if OFFSITE_ARCHIVE.fullmatch(name))
    for name in names[:max(len(names) - max(keep, 1), 0)]:
        fs.rm(f"{folder}/{name}")
        log.info("Off-site backup %s removed (keeping the latest %d).", name, keep)
    stale = datetime.now(UTC) - STALE_PART
    for entry in entries:
        name = entry["name"].rsplit("/", 1)[-1]
        modified = entry.get("mtime")
        if (name.endswith(PART) and OFFSITE_ARCHIVE.fullmatch(name[:-len(PART)])
                and isinstance(modified, datetime) and modified < stale):
            _quietly(fs.rm, f"{folder}/{name}")


def _failure_kind(exc):
    """Which of OFFSITE_FAILURES an exception from paramiko, s3fs/botocore or the OS is."""
    import botocore.exceptions
    import paramiko

    code = _s3_error_code(exc)
    if isinstance(exc, OffsiteHostKeyChanged):
        return "host key"
    if (isinstance(exc, paramiko.AuthenticationException)
            or code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidClientTokenId")):
        return "login"
    if isinstance(exc, (PermissionError, FileNotFoundError)) or code in ("AccessDenied",
                                                                          "NoSuchBucket"):
        return "refused"
    if (isinstance(exc, (TimeoutError, ConnectionError, socket.gaierror,
                         paramiko.ssh_exception.NoValidConnectionsError,
                         botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError))
            or (isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH))
            # paramiko's words for a server that never began the SSH conversation in time.
            or (isinstance(exc, paramiko.SSHException)
                and ("banner" in str(exc) or "No existing session" in str(exc)))):
        return "unreachable"
    return "other"


def _s3_error_code(exc):
    """The S3 error code behind an exception (s3fs turns botocore's ClientError into OSErrors)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        response = getattr(exc, "response", None)
        if isinstance(response, dict) and "Error" in response:
            return response["Error"].get("Code")
        exc = exc.__cause__ or exc.__context__
    return None


def _record_offsite(folder, target, archive, error):
    """Write the outcome of a copy to the status file in `folder`, which every host sharing
    BACKUP_DIR reads (written whole under another name, then renamed)."""
    now = utcnow().isoformat(timespec="seconds")
    try:
        path = folder / OFFSITE_STATUS
        status = _read_status(folder)
        entry = status.setdefault(target, {})
        entry.update(archive=archive, attempted_at=now, failure=None, detail=None)
        if error is None:
            entry.update(copied_at=now, copied_archive=archive)
        else:
            entry.update(failure=_failure_kind(error),
                         detail=(str(error) or error.__class__.__name__)[:300])
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        temporary.write_text(json.dumps(status, indent=1, sort_keys=True))
        os.replace(temporary, path)
    except OSError:
        log.exception("The off-site status of %s could not be written.", archive)


def _read_status(folder):
    try:
        status = json.loads((folder / OFFSITE_STATUS).read_text())
    except (OSError, ValueError):
        return {}
    return status if isinstance(status, dict) else {}


def last_copies(folder):
    """The off-site targets in the settings, each with its last copy (OffsiteCopy) as the
    status file in the backup folder `folder` tells."""
    status = _read_status(folder)
    copies = []
    for target in (settings.get("backup_offsite_dir"), settings.get("backup_offsite_url")):
        if not target:
            continue
        entry = status.get(target) or {}
        copies.append(OffsiteCopy(
            target=target, archive=entry.get("archive"),
            attempted_at=_moment(entry.get("attempted_at")),
            copied_at=_moment(entry.get("copied_at")), copied_archive=entry.get("copied_archive"),
            failure=(OFFSITE_FAILURES.get(entry["failure"], OFFSITE_FAILURES["other"])
                     if entry.get("failure") else None),
            detail=entry.get("detail")))
    return copies


def _moment(text):
    try:
        return datetime.fromisoformat(text) if text else None
    except (TypeError, ValueError):
        return None
