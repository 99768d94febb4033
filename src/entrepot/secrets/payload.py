"""A secret's payload outside its encryption: its files as text, and keyed fingerprints.

The payload is one JSON document, so file contents travel base64-encoded (`encode_files`,
`decode_files`). A fingerprint is an HMAC of one value under the store's fingerprint key: it
tells a changed value from an unchanged one without decrypting, and reveals nothing. `frame` is
the labelling that associated data and fingerprints share. Nothing here holds a master key or
opens a ciphertext (that is `crypto.py`, which only the services that decrypt and the store may
import): the write path fingerprints and encodes with this module alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def frame(*parts: str) -> bytes:
    """`entrepot␟part␟...`: binds a ciphertext, a wrapped key or a fingerprint to what it is for."""
    return "\x1f".join(("entrepot", *parts)).encode()


def fingerprint(key: bytes, binding: str, item: str, value: bytes) -> str:
    """Keyed hash of one value: compares versions without decrypting, reveals nothing."""
    mac = hmac.new(key, frame("fp", binding, item) + b"\x00" + value, hashlib.sha256)
    return mac.hexdigest()[:32]


def encode_files(files: dict[str, bytes]) -> dict[str, str]:
    return {k: base64.b64encode(v).decode() for k, v in files.items()}


def decode_files(files: dict[str, str]) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in files.items()}
