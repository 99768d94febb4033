"""What every bucket-like source shares: the endpoint's network steps, then auth, open the
container or bucket, list under `relativePath`, read a byte, and (rw) write and delete a probe.

A subclass supplies the SDK calls; this class runs them as steps with their own words.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar
from urllib.parse import urlsplit

from entrepot.connectors import net
from entrepot.connectors.base import CheckContext, Connector, ResolvedConnection, StepFailed
from entrepot.resources.depot_types import ObjectStoreBlock

PROBE_PREFIX = ".entrepot-write-probe-"
Objects = list[tuple[str, int]]  # (key, size) of the objects a listing returned


def prefix_of(conn: ResolvedConnection) -> str:
    """`relativePath` as an object-key prefix: no leading slash, one trailing slash."""
    assert isinstance(conn.config, ObjectStoreBlock)
    path = (conn.config.relativePath or "").strip("/")
    return f"{path}/" if path else ""


class ObjectStoreConnector(Connector):
    container_word: ClassVar[str] = "bucket"  # "container" for Azure

    # --- what a subclass provides ------------------------------------------------------------

    def endpoint(self, conn: ResolvedConnection) -> str:
        raise NotImplementedError

    def container(self, conn: ResolvedConnection) -> str:
        raise NotImplementedError

    def client(self, conn: ResolvedConnection, timeout: float) -> Any:
        raise NotImplementedError

    def authenticate(self, client: Any, conn: ResolvedConnection) -> str:
        """Prove the credentials; raise StepFailed(code="auth failed") if they are wrong."""
        raise NotImplementedError

    def open(self, client: Any, conn: ResolvedConnection) -> str:
        raise NotImplementedError

    def list_objects(self, client: Any, conn: ResolvedConnection, prefix: str) -> Objects:
        raise NotImplementedError

    def read(self, client: Any, conn: ResolvedConnection, key: str) -> None:
        raise NotImplementedError

    def write_and_delete(self, client: Any, conn: ResolvedConnection, key: str) -> None:
        raise NotImplementedError

    def explain(self, exc: Exception, conn: ResolvedConnection, step: str) -> StepFailed:
        return StepFailed(f"{type(exc).__name__}: {exc}", "", "error")

    # --- the check ---------------------------------------------------------------------------

    def steps(self, conn: ResolvedConnection) -> list[tuple[str, str]]:
        url = urlsplit(self.endpoint(conn))
        port = url.port or (443 if url.scheme == "https" else 80)
        steps = [
            ("dns", f"resolve host {url.hostname}"),
            ("tcp", f"open TCP port {port}"),
            ("tls", "TLS handshake"),
            ("auth", "authenticate"),
            ("open", f"open {self.container_word} {self.container(conn)}"),
            ("list", f"list objects under '{prefix_of(conn) or '/'}'"),
            ("read", "probe read privilege"),
        ]
        if conn.acl == "rw":
            steps.append(("write", "probe write privilege (write and delete an object)"))
        return steps

    def check(self, conn: ResolvedConnection, ctx: CheckContext) -> None:
        url = urlsplit(self.endpoint(conn))
        host = url.hostname or ""
        port = url.port or (443 if url.scheme == "https" else 80)
        address = net.resolve(ctx, host, port)
        net.connect_tcp(ctx, host, address, port)
        if url.scheme == "https":
            ctx.run("tls", lambda: self._tls(ctx, host, address, port))
        else:
            ctx.skip("tls", f"{url.scheme}:// endpoint, no TLS")
        client = self.client(conn, ctx.remaining())
        not_found: list[StepFailed] = []

        def guarded(step: str, action: Any) -> Any:
            try:
                return action()
            except StepFailed:
                raise
            except Exception as exc:  # the SDK's own errors: explained per source
                raise self.explain(exc, conn, step) from None

        def authenticate() -> str:
            try:
                return str(guarded("auth", lambda: self.authenticate(client, conn)))
            except StepFailed as failure:
                if failure.code != "not found":
                    raise
                not_found.append(failure)  # authenticated; the container is the problem
                return "credentials accepted"

        def open_container() -> str:
            if not_found:
                raise not_found[0]
            return str(guarded("open", lambda: self.open(client, conn)))

        ctx.run("auth", authenticate)
        ctx.run("open", open_container)
        prefix = prefix_of(conn)
        objects: Objects = []

        def list_step() -> str:
            objects.extend(guarded("list", lambda: self.list_objects(client, conn, prefix)))
            if not objects:
                return "empty (no objects yet)"
            more = "+" if len(objects) >= 100 else ""
            return f"{len(objects)}{more} objects, e.g. {objects[0][0]}"

        ctx.run("list", list_step)

        def read_one() -> str:
            readable = [key for key, size in objects if size > 0]
            if not readable:
                return "nothing to read yet"
            guarded("read", lambda: self.read(client, conn, readable[0]))
            return f"read {readable[0]}"

        ctx.run("read", read_one)
        if conn.acl == "rw":
            key = f"{prefix}{PROBE_PREFIX}{uuid.uuid4().hex}"

            def write_probe() -> str:
                guarded("write", lambda: self.write_and_delete(client, conn, key))
                return f"wrote and deleted {key}"

            ctx.run("write", write_probe)

    def _tls(self, ctx: CheckContext, host: str, address: str, port: int) -> str:
        import socket
        import ssl

        context = net.tls_context(None, verify=True, check_hostname=True)
        try:
            with (
                socket.create_connection((address, port), timeout=ctx.remaining()) as sock,
                context.wrap_socket(sock, server_hostname=host) as tls,
            ):
                return f"{tls.version()}, verified"
        except (ssl.SSLError, ssl.CertificateError) as exc:
            raise net.explain_tls(exc, host) from None


def http_status(exc: Exception) -> int | None:
    for attribute in ("status_code", "code"):
        value = getattr(exc, attribute, None)
        if isinstance(value, int):
            return value
    response = getattr(exc, "response", None)
    if isinstance(response, dict):  # botocore
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return int(status) if status else None
    return None
