"""The encrypted backup format: a stream encrypted in chunks, never whole in memory (SPEC S4).

A key is 32 random bytes, given in base64 (`openssl rand -base64 32`). Format 1:

    header  "LDESKENC" (8 bytes) | format 1 (1 byte) | key id (8 bytes: the first 8 of
            HMAC-SHA256(key, "locker-desk backup key id")) | salt (16 random bytes) |
            nonce prefix (7 random bytes) | chunk size (4 bytes, big-endian: 1 MiB) |
            label length (2 bytes, big-endian) | label (JSON, UTF-8: what may be known of
            the archive without its key, e.g. when and why it was made)
    chunks  AES-256-GCM under the archive's own key HKDF-SHA256(key, salt, "locker-desk
            backup v1"); nonce = prefix | chunk number (4 bytes, big-endian, from 0) | 1 for
            the final chunk, else 0; associated data = the whole header. Each chunk is its
            ciphertext followed by its 16-byte tag. Every chunk holds exactly chunk-size
            bytes of plaintext but the final one, which holds fewer (perhaps none).

So another key is told by its id (KeyMissing), not taken for damage; a changed byte
anywhere, header included, fails a tag (Damaged); a file cut short, even at a chunk
boundary, lacks its final chunk (Damaged); chunks cannot be reordered or dropped.
This is the STREAM construction (as in Tink's streaming AEAD) with the header bound
to every chunk. Nothing here knows Flask: `app.services.backups` decides which keys
to use and says what went wrong.
"""

import base64
import hashlib
import hmac
import json
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"LDESKENC"
FORMAT = 1
HEADER = struct.Struct(">8sB8s16s7sIH")  # magic, format, key id, salt, prefix, chunk size, label
CHUNK = 1024 * 1024
TAG = 16
# A header asking for larger chunks is not one of ours (and must not make a reader allocate them).
MAX_CHUNK = 64 * 1024 * 1024
KEY_ID_INFO = b"locker-desk backup key id"
ARCHIVE_KEY_INFO = b"locker-desk backup v1"


class Damaged(Exception):
    """The file is not in this format, or was altered or cut short after it was written."""


class NewerFormat(Exception):
    """The file names a format version this code does not know."""


class KeyMissing(Exception):
    """None of the keys given is the one the file names; `label` and `key_id` are its header's."""

    def __init__(self, label, key_id):
        super().__init__(f"made with key {key_id.hex()}")
        self.label = label
        self.key_id = key_id


def key_id(key):
    """8 bytes naming a key without revealing it (an HMAC of a fixed text under the key)."""
    return hmac.new(key, KEY_ID_INFO, hashlib.sha256).digest()[:8]


def parse_keys(text):
    """"key, older key, …" (base64 of 32 bytes each, standard or URL-safe) → {key id: key}, in
    the order given; ValueError for anything else."""
    keys = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        key = base64.b64decode(part.strip().translate(str.maketrans("-_", "+/")), validate=True)
        if len(key) != 32:
            raise ValueError("a key is 32 bytes")
        keys[key_id(key)] = key
    return keys


def is_encrypted(path):
    """Whether the file at `path` starts as this format does."""
    with open(path, "rb") as handle:
        return handle.read(len(MAGIC)) == MAGIC


def _archive_key(key, salt):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=ARCHIVE_KEY_INFO).derive(key)


def _nonce(prefix, counter, last):
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def _read_up_to(handle, size):
    """`size` bytes, fewer only at the end of the file."""
    data = handle.read(size)
    while len(data) < size:
        more = handle.read(size - len(data))
        if not more:
            break
        data += more
    return data


class EncryptingWriter:
    """A write-only file: what is written to it goes to `target` encrypted with `key`, chunk
    by chunk; `close()` writes the final chunk (and leaves `target` open). Holds one chunk."""

    def __init__(self, target, key, label):
        salt, self._prefix = os.urandom(16), os.urandom(7)
        body = json.dumps(label, sort_keys=True).encode()
        self._header = HEADER.pack(MAGIC, FORMAT, key_id(key), salt, self._prefix, CHUNK,
                                   len(body)) + body
        self._aead = AESGCM(_archive_key(key, salt))
        self._target = target
        self._pending = bytearray()
        self._counter = 0
        target.write(self._header)

    def write(self, data):
        self._pending += data
        while len(self._pending) >= CHUNK:
            self._seal(bytes(self._pending[:CHUNK]), last=False)
            del self._pending[:CHUNK]
        return len(data)

    def close(self):
        """Write the final chunk (shorter than a full one, perhaps empty): the file is whole."""
        self._seal(bytes(self._pending), last=True)
        self._pending.clear()

    def _seal(self, plain, last):
        nonce = _nonce(self._prefix, self._counter, last)
        self._target.write(self._aead.encrypt(nonce, plain, self._header))
        self._counter += 1


def read_header(source):
    """(header bytes, its fields, label) from the start of `source`; Damaged or NewerFormat."""
    fixed = _read_up_to(source, HEADER.size)
    if len(fixed) < HEADER.size:
        raise Damaged("shorter than a header")
    fields = HEADER.unpack(fixed)
    magic, version, _key, _salt, _prefix, chunk, length = fields
    if magic != MAGIC:
        raise Damaged("not an encrypted backup")
    if version != FORMAT:
        raise NewerFormat(version)
    if not 0 < chunk <= MAX_CHUNK:
        raise Damaged("impossible chunk size")
    body = _read_up_to(source, length)
    try:
        label = json.loads(body)
    except ValueError:
        raise Damaged("unreadable label") from None
    if len(body) < length or not isinstance(label, dict):
        raise Damaged("unreadable label")
    return fixed + body, fields, label


class DecryptingReader:
    """A read-only file giving back what an EncryptingWriter was given, from `source`, one
    authenticated chunk at a time, with whichever of `keys` ({key id: key}) the file names.

    `label` is the header's label (not authenticated until a chunk has been read).
    Raises KeyMissing, NewerFormat, or Damaged when a header or chunk was altered or
    the file was cut short.
    """

    def __init__(self, source, keys):
        self._source = source
        self._header, fields, self.label = read_header(source)
        _magic, _version, named, salt, self._prefix, self._chunk, _length = fields
        if named not in keys:
            raise KeyMissing(self.label, named)
        self._aead = AESGCM(_archive_key(keys[named], salt))
        self._plain = bytearray()
        self._counter = 0
        self._finished = False

    def read(self, size=-1):
        while not self._finished and (size < 0 or len(self._plain) < size):
            self._open_chunk()
        size = len(self._plain) if size < 0 else size
        data = bytes(self._plain[:size])
        del self._plain[:size]
        return data

    def finish(self):
        """Read on to the end: raises Damaged unless every chunk up to the final one is there,
        unaltered."""
        while not self._finished:
            self._plain.clear()
            self._open_chunk()
        self._plain.clear()

    def _open_chunk(self):
        sealed = _read_up_to(self._source, self._chunk + TAG)
        # Only the final chunk is short: a file cut at a chunk boundary has none and fails here.
        last = len(sealed) < self._chunk + TAG
        try:
            plain = self._aead.decrypt(_nonce(self._prefix, self._counter, last), sealed,
                                       self._header)
        except InvalidTag:
            raise Damaged(f"chunk {self._counter} does not authenticate") from None
        self._counter += 1
        self._plain += plain
        self._finished = last
