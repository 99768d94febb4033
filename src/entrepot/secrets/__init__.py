"""Secrets: envelope encryption at rest, the master keyring and its rotation, and redaction.

This folder owns every byte of key material: a random AES-256-GCM data key per secret, wrapped by
the master key (`$ENTREPOT_HOME/master.key`, mode 0600, or `ENTREPOT_MASTER_KEY`), with associated
data binding each ciphertext to its resource and slot so a ciphertext moved to another row fails to
open; keyed fingerprints (HMAC) that tell "changed" from "unchanged" without decrypting; and the
process-wide `redactor` that scrubs known secret values from anything printed or logged.
It imports only `entrepot.errors` and `cryptography`.
"""
