"""AES-256-GCM envelope encryption and the master keyring.

A secret's values are one JSON document encrypted with its own random 256-bit data key (DEK).
The DEK is stored wrapped (encrypted) by the master key (KEK); rotating the master key re-wraps
DEKs and never touches the values. Associated data ties each ciphertext to where it belongs.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets as _random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from entrepot.errors import RefusedError, StoreError
from entrepot.secrets.payload import frame

KEY_BYTES = 32
NONCE_BYTES = 12
MASTER_KEY_FILE = "master.key"
NEXT_MASTER_KEY_FILE = "master.key.next"  # written first during a rotation
LOCK_FILE = "master.key.lock"  # rotations hold it exclusively, applies shared


@dataclass(frozen=True)
class MasterKey:
    key: bytes

    @property
    def id(self) -> str:
        """A short public identifier (not the key): which master key wrapped a DEK."""
        return hashlib.sha256(b"entrepot-master-key-id" + self.key).hexdigest()[:16]

    def encode(self) -> str:
        return base64.urlsafe_b64encode(self.key).decode()

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(_random.token_bytes(KEY_BYTES))

    @classmethod
    def parse(cls, text: str, origin: str) -> MasterKey:
        try:
            key = base64.urlsafe_b64decode(text.strip().encode())
        except (ValueError, TypeError):
            key = b""
        if len(key) != KEY_BYTES:
            raise StoreError(
                f"{origin} is not a valid master key (expected {KEY_BYTES} bytes, base64)",
                hint='generate one with: python -c "import base64,os;'
                'print(base64.urlsafe_b64encode(os.urandom(32)).decode())"',
            )
        return cls(key)


def _write_private(path: Path, text: str, *, replace: bool = True) -> bool:
    """Create a file readable by its owner only, atomically. With `replace=False` an existing
    file wins (returns False): two processes creating the first master key at once must end
    up using the same one."""
    # A name of this process's own: two writers never share (and truncate) one temporary file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)  # fails if the file exists: create-if-absent, atomically
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@contextlib.contextmanager
def master_key_lock(home: Path, *, exclusive: bool, wait: float) -> Iterator[None]:
    """An advisory lock on the master key files (flock on `master.key.lock` in `home`).

    A rotation holds it exclusively: two rotations at once could each write their own next key
    and promote the other's. An apply holds it shared while it wraps new data keys. Waits up to
    `wait` seconds, then refuses (flock itself cannot time out, so poll without blocking).
    """
    import fcntl

    try:
        fd = os.open(home / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise StoreError(
            f"cannot open {home / LOCK_FILE}: {exc.strerror}",
            hint="ENTREPOT_HOME must be writable by you (it holds the master key)",
        ) from None
    try:
        deadline = time.monotonic() + wait
        pause = 0.005
        while True:
            try:
                fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    busy = (
                        "another key rotation or apply is using the master key"
                        if exclusive
                        else "a master key rotation is running in another process"
                    )
                    raise RefusedError(
                        f"{busy} (waited {wait:g} s)",
                        hint="let it finish, then try again"
                        + ("; 'admin rotate-key --wait SECONDS' waits longer" if exclusive else ""),
                    ) from None
                time.sleep(min(pause, left))
                pause = min(pause * 2, 0.1)
        yield
    finally:
        os.close(fd)  # releases the lock


class Keyring:
    """Master keys by id: the current one wraps new DEKs; others still unwrap old ones."""

    def __init__(self, current: MasterKey, others: list[MasterKey] | None = None) -> None:
        self.current = current
        self.keys = {k.id: k for k in [*(others or []), current]}

    @classmethod
    def load(cls, home: Path, create: bool = True) -> Keyring:
        env = os.environ.get("ENTREPOT_MASTER_KEY")
        if env:
            current = MasterKey.parse(env, "ENTREPOT_MASTER_KEY")
            others = []
            previous = os.environ.get("ENTREPOT_PREVIOUS_MASTER_KEY")
            if previous:
                others.append(MasterKey.parse(previous, "ENTREPOT_PREVIOUS_MASTER_KEY"))
            return cls(current, others)
        path = home / MASTER_KEY_FILE
        nxt = home / NEXT_MASTER_KEY_FILE
        if not path.exists():
            if not create:
                raise StoreError(
                    f"no master key at {path}",
                    hint="the store's secrets cannot be opened without the key they were "
                    "sealed with; set ENTREPOT_MASTER_KEY or restore the file",
                )
            home.mkdir(mode=0o700, parents=True, exist_ok=True)
            _write_private(path, MasterKey.generate().encode(), replace=False)
        _check_mode(path)
        current = MasterKey.parse(path.read_text(), str(path))
        others = []
        if nxt.exists():  # an interrupted rotation: both keys may be in use
            others.append(MasterKey.parse(nxt.read_text(), str(nxt)))
        return cls(current, others)

    def get(self, key_id: str) -> MasterKey:
        try:
            return self.keys[key_id]
        except KeyError:
            raise StoreError(
                f"the store holds data keys wrapped by master key {key_id}, which is not loaded",
                hint="set ENTREPOT_MASTER_KEY (or ENTREPOT_PREVIOUS_MASTER_KEY after a rotation) "
                "to the key the store was sealed with",
            ) from None


def _check_mode(path: Path) -> None:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise StoreError(
            f"master key file {path} is readable by others (mode {mode:o})",
            hint=f"chmod 600 {path}",
        )


def begin_rotation(home: Path) -> MasterKey:
    """Write the next master key beside the current one (step 1 of a crash-safe rotation)."""
    nxt = home / NEXT_MASTER_KEY_FILE
    if nxt.exists():
        return MasterKey.parse(nxt.read_text(), str(nxt))
    key = MasterKey.generate()
    _write_private(nxt, key.encode())
    return key


def finish_rotation(home: Path) -> None:
    """After every DEK is re-wrapped and committed: the next key becomes the current one."""
    os.replace(home / NEXT_MASTER_KEY_FILE, home / MASTER_KEY_FILE)


def wrap_key(master: MasterKey, dek: bytes, purpose: str) -> bytes:
    nonce = _random.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(master.key).encrypt(nonce, dek, frame("dek", purpose))


def unwrap_key(master: MasterKey, wrapped: bytes, purpose: str) -> bytes:
    try:
        return AESGCM(master.key).decrypt(
            wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], frame("dek", purpose)
        )
    except InvalidTag:
        raise StoreError(
            "a data key does not open with the master key (tampered or wrong key)",
            hint="check ENTREPOT_MASTER_KEY / master.key",
        ) from None


def new_data_key() -> bytes:
    return _random.token_bytes(KEY_BYTES)


def encrypt_payload(dek: bytes, payload: dict[str, Any], binding: str) -> bytes:
    nonce = _random.token_bytes(NONCE_BYTES)
    plaintext = json.dumps(payload, sort_keys=True).encode()
    return nonce + AESGCM(dek).encrypt(nonce, plaintext, frame("secret", binding))


def decrypt_payload(dek: bytes, blob: bytes, binding: str) -> dict[str, Any]:
    try:
        plaintext = AESGCM(dek).decrypt(
            blob[:NONCE_BYTES], blob[NONCE_BYTES:], frame("secret", binding)
        )
    except InvalidTag:
        raise StoreError(
            f"secret ciphertext for '{binding}' does not open: it was tampered with or belongs "
            "to another resource",
            hint="re-apply the instance secret to replace it",
        ) from None
    result: dict[str, Any] = json.loads(plaintext)
    return result
