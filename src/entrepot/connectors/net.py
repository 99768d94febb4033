"""Network steps every networked source shares: resolve the host, open TCP, check TLS."""

from __future__ import annotations

import errno
import ipaddress
import socket
import ssl
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from entrepot.connectors.base import CheckContext, ResolvedConnection, StepFailed

# Few lookups at once: DNS servers drop bursts (glibc then waits 5 s per retry), and answers
# are shared: many depots usually live on a few hosts.
_RESOLVER = ThreadPoolExecutor(max_workers=8, thread_name_prefix="entrepot-dns")
_CACHE_SECONDS = 30.0
_answers: dict[tuple[str, int], tuple[float, Future[Any]]] = {}
_answers_lock = threading.Lock()


def _lookup(host: str, port: int) -> Future[Any]:
    """One lookup per host and port, shared by every check running now (and for 30 s)."""
    now = time.monotonic()
    with _answers_lock:
        cached = _answers.get((host, port))
        if cached is not None and now - cached[0] < _CACHE_SECONDS:
            return cached[1]
        future = _RESOLVER.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        _answers[(host, port)] = (now, future)
        return future


def server_steps(
    conn: ResolvedConnection, host: str, port: int, *, tls: str, opened: str, listed: str
) -> list[tuple[str, str]]:
    """The steps of a database server's check, in order (write only for an rw check)."""
    steps = [
        ("dns", f"resolve host {host}"),
        ("tcp", f"open TCP port {port}"),
        ("tls", tls),
        ("auth", "authenticate"),
        ("open", opened),
        ("list", listed),
        ("read", "probe read privilege"),
    ]
    if conn.acl == "rw":
        steps.append(("write", "probe write privilege"))
    return steps


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def resolve(ctx: CheckContext, host: str, port: int) -> str:
    """The `dns` step: the first address of `host`, or a clear failure."""
    if is_ip(host):
        ctx.skip("dns", f"{host} is an address")
        return host
    result: list[str] = []

    def lookup() -> str:
        future = _lookup(host, port)
        try:
            infos = future.result(timeout=ctx.remaining())
        except FutureTimeout:
            raise StepFailed(
                f"resolving host '{host}' took longer than the deadline",
                "check the DNS servers of this machine",
                "dns",
            ) from None
        except socket.gaierror as exc:
            raise StepFailed(
                f"host '{host}' does not resolve ({exc.strerror})",
                "check the host name in the depot (a typo, or a name only resolvable inside "
                "another network: VPN, private DNS zone)",
                "dns",
            ) from None
        address = str(infos[0][4][0])
        result.append(address)
        return address

    ctx.run("dns", lookup)
    return result[0]


def connect_tcp(ctx: CheckContext, host: str, address: str, port: int) -> None:
    """The `tcp` step: open and close a TCP connection to the resolved address."""

    def attempt() -> str:
        try:
            with socket.create_connection((address, port), timeout=ctx.remaining()):
                pass
        except ConnectionRefusedError:
            raise StepFailed(
                f"{address}:{port} refused the connection: nothing listens on port {port}",
                f"check the port, and that the service on {host} listens on that address",
                "refused",
            ) from None
        except TimeoutError:
            raise StepFailed(
                f"no answer from {address}:{port} (packets dropped)",
                "a firewall, security group or network route blocks the port",
                "unreachable",
            ) from None
        except OSError as exc:
            code = "unreachable"
            reason = exc.strerror or str(exc)
            if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
                reason = f"no route to {address}"
            raise StepFailed(f"cannot reach {address}:{port}: {reason}", "", code) from None
        return f"{address}:{port}"

    ctx.run("tcp", attempt)


def tls_context(ca_pem: bytes | None, verify: bool, check_hostname: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_pem:
        context.load_verify_locations(cadata=ca_pem.decode())
    context.check_hostname = verify and check_hostname
    context.verify_mode = ssl.CERT_REQUIRED if verify else ssl.CERT_NONE
    return context


def explain_tls(exc: ssl.SSLError | ssl.CertificateError, host: str) -> StepFailed:
    text = getattr(exc, "verify_message", "") or getattr(exc, "reason", "") or str(exc)
    if isinstance(exc, ssl.SSLCertVerificationError):
        if "hostname" in text.lower() or "match" in text.lower():
            return StepFailed(
                f"the server's certificate is not valid for host '{host}' ({text})",
                "connect with the name the certificate was issued for, or use "
                "sslmode=verify-ca to check the CA only",
                "tls",
            )
        return StepFailed(
            f"the server's certificate is not trusted ({text})",
            "put the CA certificate in a 'certificates' instance secret (key 'rootcert') "
            "referenced by the depot",
            "tls",
        )
    return StepFailed(f"TLS handshake failed: {text}", "", "tls")
