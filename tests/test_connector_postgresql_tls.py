"""PostgreSQL over TLS: a self-signed CA in a `certificates` instance secret, sslmode checks."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from scripts.services import PostgresServer
from tests.conftest import run_cli, write

pytestmark = pytest.mark.postgres
SERVER_NAME = "db.internal.example"  # the only name in the server's certificate


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_pki() -> tuple[bytes, bytes, bytes]:
    """A CA, and a server certificate it signed for SERVER_NAME: (ca, cert, key) PEMs."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Entrepot Test CA"))
        .issuer_name(_name("Entrepot Test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(SERVER_NAME))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(SERVER_NAME)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return ca.public_bytes(pem), cert.public_bytes(pem), key_pem


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PostgresServer, bytes]]:
    ca, cert, key = make_pki()
    server = PostgresServer(tmp_path_factory.mktemp("pg-tls"), tls=(cert, key))
    server.start()
    try:
        server.create_role("tls_reader", "Tls-Reader-1")
        yield server, ca
    finally:
        server.stop()


def apply_depot(tmp_path: Path, server: PostgresServer, ca: bytes | None, sslmode: str) -> None:
    write(tmp_path / "ca.pem", (ca or b"").decode())
    docs = [
        """name: tlsdb-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data: {username: tls_reader, password: Tls-Reader-1}
""",
        f"""name: tlsdb
version: v2alpha
type: depot
depot:
  type: postgresql
  secrets: [{{name: tlsdb-r, allkeys: true}}{", {name: tlsdb-ca, allkeys: true}" if ca else ""}]
  postgresql:
    host: {server.host}
    port: {server.port}
    database: postgres
    params: {{sslmode: {sslmode}}}
""",
    ]
    if ca:
        docs.insert(
            0,
            """name: tlsdb-ca
version: v1
type: instance-secret
instance-secret:
  type: certificates
  acl: r
  files: {rootcert: ca.pem}
""",
        )
    result = run_cli("apply", "-f", str(write(tmp_path / "tls.yml", "---\n".join(docs))))
    assert result.exit_code == 0, result.stderr
    assert "naming convention" not in result.stderr  # a CA secret is exempt


def check() -> dict[str, dict[str, str]]:
    result = run_cli("check", "depot", "tlsdb", "--output", "json", "--timeout", "5")
    [record] = json.loads(result.stdout)
    return {s["name"]: s for s in record["steps"]} | {"summary": {"text": record["summary"]}}


def test_verify_ca_with_the_ca_from_a_certificates_secret(
    home: Path, tmp_path: Path, tls_server: tuple[PostgresServer, bytes]
) -> None:
    server, ca = tls_server
    apply_depot(tmp_path, server, ca, "verify-ca")
    steps = check()
    assert steps["tls"]["status"] == "ok" and "verified" in steps["tls"]["detail"]
    assert steps["auth"]["status"] == "ok" and steps["read"]["status"] == "ok"


def test_verify_full_against_the_wrong_host_name(
    home: Path, tmp_path: Path, tls_server: tuple[PostgresServer, bytes]
) -> None:
    server, ca = tls_server
    apply_depot(tmp_path, server, ca, "verify-full")
    steps = check()
    assert steps["summary"]["text"] == "tls"
    assert steps["tls"]["reason"].startswith(
        "the server's certificate is not valid for host '127.0.0.1'"
    )
    assert "verify-ca" in steps["tls"]["hint"]
    assert steps["auth"]["status"] == "skipped"


def test_an_unknown_ca_is_not_trusted(
    home: Path, tmp_path: Path, tls_server: tuple[PostgresServer, bytes]
) -> None:
    server, _ = tls_server
    apply_depot(tmp_path, server, None, "verify-ca")
    steps = check()
    assert steps["tls"]["reason"].startswith("the server's certificate is not trusted")
    assert "certificates" in steps["tls"]["hint"]


def test_require_encrypts_without_verifying(
    home: Path, tmp_path: Path, tls_server: tuple[PostgresServer, bytes]
) -> None:
    server, _ = tls_server
    apply_depot(tmp_path, server, None, "require")
    steps = check()
    assert steps["tls"]["detail"].endswith("not verified")
    assert steps["read"]["status"] == "ok"
