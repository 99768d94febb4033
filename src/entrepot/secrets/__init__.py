"""Secrets: envelope encryption at rest, the master keyring and its rotation, and redaction.

This folder owns every byte of key material: a random AES-256-GCM data key per secret, wrapped by
the master key (`$ENTREPOT_HOME/master.key`, mode 0600, or `ENTREPOT_MASTER_KEY`), with associated
data binding each ciphertext to its resource and slot so a ciphertext moved to another row fails to
open; keyed fingerprints (HMAC) that tell "changed" from "unchanged" without decrypting; and the
process-wide `redactor` that scrubs known secret values from anything printed or logged.
`crypto.py` holds the key material and the decryption: only services/connections.py,
services/context.py (the keyring), services/admin.py (rotation) and the store import it (the
`decryption` contract); fingerprints and file encoding are in `payload.py`, which opens
nothing. It imports only `entrepot.errors` and `cryptography`.
"""
