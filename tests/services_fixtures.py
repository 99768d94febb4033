"""Session fixtures for the other services the tests use: a real MariaDB, Azurite (Azure Blob
Storage emulator), an S3 server (moto) and a Google Cloud Storage emulator.

A pytest plugin: tests/conftest.py loads it with ``pytest_plugins = ["tests.services_fixtures"]``.
Each fixture starts its server (scripts/services.py) on a free 127.0.0.1 port the first time a
test asks for it, once per session, and always stops it at the end of the session. A missing
program or package fails the test with the message saying what to install (`make install`),
never a skip.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scripts.services import AzuriteServer, GCSServer, MariaDBServer, S3Server


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDBServer]:
    """A MariaDB server; ``root`` / ``root_password`` over TCP, ``sql()``, ``create_user()``."""
    with MariaDBServer(tmp_path_factory.mktemp("mariadb")) as server:
        yield server


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteServer]:
    """Azurite's blob service; ``connection_string``, ``blob_endpoint``, the dev account."""
    with AzuriteServer(tmp_path_factory.mktemp("azurite")) as server:
        yield server


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 at ``endpoint_url``; it checks signatures against ``access_key_id`` /
    ``secret_access_key`` (a wrong secret key gets SignatureDoesNotMatch)."""
    with S3Server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture(scope="session")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GCSServer]:
    """A GCS emulator at ``endpoint``; any credentials (use AnonymousCredentials)."""
    with GCSServer(tmp_path_factory.mktemp("gcs")) as server:
        yield server
