"""The connector contract, the resolved connection, and the stepwise check runner.

A check is a fixed list of steps. Each step reports ok, failed or skipped, its duration and, on
failure, a reason and a hint; after a failure the rest are skipped. The whole check runs in a
worker thread under one deadline: if a step hangs, the runner marks it failed at the deadline and
returns; nothing a user waits on can hang.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar

from entrepot.connectors import capabilities, types_with
from entrepot.connectors.capabilities import Capabilities
from entrepot.resources.depot_types import Block
from entrepot.secrets.redact import bind_scope, redactor

OK, FAILED, SKIPPED = "ok", "failed", "skipped"
DEFAULT_TIMEOUT = 10.0


class StepFailed(Exception):
    """Raised inside a step: `reason` says what happened, `hint` what to do, `code` is the
    short label for the CONNECTION column (`auth failed`, `dns`, ...)."""

    def __init__(self, reason: str, hint: str = "", code: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint
        self.code = code


class MissingCredential(Exception):
    """A key the source needs is not in the depot's secrets."""


class ScanFailed(Exception):
    """A metadata scan could not complete: `reason` and `hint` as a user reads them."""

    def __init__(self, reason: str, hint: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


@dataclass
class ResolvedConnection:
    """One depot's connection, with credentials decrypted in memory only. Never printed."""

    depot: str
    source_type: str
    acl: str
    config: Block
    data: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    key_sources: dict[str, str] = field(default_factory=dict)  # key -> instance secret name
    secret_names: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return (
            f"ResolvedConnection(depot={self.depot!r}, type={self.source_type!r}, "
            f"acl={self.acl!r}, keys={sorted(self.data)}, files={sorted(self.files)})"
        )

    __str__ = __repr__

    def where(self, key: str) -> str:
        """Where a key comes from, for hints: "key 'password' of instance secret 'postgres-r'"."""
        secret = self.key_sources.get(key)
        if secret:
            return f"key '{key}' of instance secret '{secret}'"
        names = ", ".join(f"'{n}'" for n in self.secret_names) or "(none referenced)"
        return f"key '{key}' in the depot's {self.acl} secrets {names}"

    def require(self, *keys: str) -> str:
        """The first of `keys` present (aliases), or a clear error naming what is missing."""
        for key in keys:
            if self.data.get(key):
                return self.data[key]
        names = ", ".join(f"'{n}'" for n in self.secret_names) or "none"
        raise MissingCredential(
            f"depot '{self.depot}' needs key '{keys[0]}' in its {self.acl} instance secret "
            f"(referenced: {names})"
        )

    def optional(self, *keys: str) -> str | None:
        for key in keys:
            if self.data.get(key):
                return self.data[key]
        return None

    def file(self, *keys: str) -> bytes | None:
        for key in keys:
            if key in self.files:
                return self.files[key]
            if key in self.data:  # a PEM pasted into data
                return self.data[key].encode()
        return None


@dataclass
class StepResult:
    name: str
    title: str
    status: str = SKIPPED
    duration_ms: float = 0.0
    detail: str = ""
    reason: str = ""
    hint: str = ""
    code: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "durationMs": round(self.duration_ms, 1),
        }
        for key in ("detail", "reason", "hint"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out


@dataclass
class CheckResult:
    depot: str
    source_type: str
    acl: str
    steps: list[StepResult]
    duration_ms: float
    checked_at: str = ""
    unsupported: bool = False

    @property
    def ok(self) -> bool:
        return not self.unsupported and all(s.status != FAILED for s in self.steps)

    @property
    def failed_step(self) -> StepResult | None:
        return next((s for s in self.steps if s.status == FAILED), None)

    @property
    def summary(self) -> str:
        """The short CONNECTION column: `ok 12 ms`, `auth failed`, `dns`, `unsupported`."""
        if self.unsupported:
            return "unsupported"
        failed = self.failed_step
        if failed is None:
            return f"ok {self.duration_ms:.0f} ms"
        return failed.code or f"{failed.name} failed"

    @property
    def message(self) -> str:
        failed = self.failed_step
        if self.unsupported:
            return self.steps[0].reason if self.steps else "unsupported"
        if failed is None:
            return ""
        return f"{failed.name}: {failed.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "depot": self.depot,
            "type": self.source_type,
            "acl": self.acl,
            "ok": self.ok,
            "summary": self.summary,
            "checkedAt": self.checked_at,
            "durationMs": round(self.duration_ms, 1),
            "steps": [s.to_dict() for s in self.steps],
        }


class CheckContext:
    """Runs the steps of one check; shared between the worker thread and the deadline."""

    def __init__(self, steps: list[tuple[str, str]], timeout: float) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self.timeout = timeout
        self.results = [StepResult(name, title) for name, title in steps]
        self._by_name = {r.name: r for r in self.results}
        self._lock = threading.Lock()
        self._closed = False
        self._stopped = False
        self.current: StepResult | None = None
        self.current_started = 0.0

    def remaining(self) -> float:
        return max(0.05, self.deadline - time.monotonic())

    def run(self, name: str, action: Callable[[], str | None]) -> None:
        """Run one step; after a failure (or the deadline) later steps stay skipped."""
        with self._lock:
            if self._stopped or self._closed:
                raise _Stop
            step = self._by_name[name]
            self.current, self.current_started = step, time.monotonic()
        try:
            detail = action()
        except StepFailed as exc:
            self._finish(step, FAILED, reason=exc.reason, hint=exc.hint, code=exc.code)
            raise _Stop from None
        except MissingCredential as exc:
            self._finish(step, FAILED, reason=str(exc), hint="add the key to the instance "
                         "secret and apply it again", code="no credentials")  # fmt: skip
            raise _Stop from None
        except TimeoutError:  # a socket timeout set from remaining(): the deadline
            self._finish(step, FAILED, **self._deadline_fields())
            raise _Stop from None
        self._finish(step, OK, detail=detail or "")

    def _deadline_fields(self) -> dict[str, str]:
        return {
            "reason": f"no answer within the {self.timeout:g} s deadline",
            "hint": "the source is slow or a firewall drops packets; raise --timeout",
            "code": "timeout",
        }

    def skip(self, name: str, why: str) -> None:
        with self._lock:
            if not self._closed:
                self._by_name[name].detail = why

    def _finish(self, step: StepResult, status: str, **fields: str) -> None:
        with self._lock:
            if self._closed:
                return  # the deadline already reported this step
            step.status = status
            step.duration_ms = (time.monotonic() - self.current_started) * 1000
            for key, value in fields.items():
                setattr(step, key, redactor.redact(value))
            self.current = None
            if status == FAILED:
                self._stopped = True

    def expire(self) -> None:
        """The deadline passed: the running step fails, the rest stay skipped."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            step = self.current or next((r for r in self.results if r.status == SKIPPED), None)
            if step is not None:
                step.status = FAILED
                step.duration_ms = (time.monotonic() - self.current_started) * 1000
                for key, value in self._deadline_fields().items():
                    setattr(step, key, value)

    def close(self) -> None:
        with self._lock:
            self._closed = True


class _Stop(Exception):
    """Ends a check early (after a failure); never escapes `run_check`."""


class Connector:
    """Base class: subclasses declare `source_types` and `capabilities`, define `steps` and
    implement `check`, `scan` and the renderings their `capabilities` promise."""

    source_types: ClassVar[tuple[str, ...]] = ()
    label: ClassVar[str] = ""
    capabilities: ClassVar[Capabilities]

    def steps(self, conn: ResolvedConnection) -> list[tuple[str, str]]:
        raise NotImplementedError

    def check(self, conn: ResolvedConnection, ctx: CheckContext) -> None:
        raise NotImplementedError

    def scan(
        self,
        conn: ResolvedConnection,
        filters: Any,
        statement_timeout: float,
        since: str | None = None,
    ) -> Any:
        """Extract the source's metadata: a `catalog.model.ScanResult`. Raises ScanFailed.
        `since`: the signature of the last full scan, for sources that can skip an unchanged
        catalog (others ignore it)."""
        raise ScanFailed(f"no metadata scanner for depot type '{conn.source_type}' yet")

    # Renderings of one resolved connection for its consumers (one credential model).
    def duckdb(self, conn: ResolvedConnection) -> dict[str, Any]:
        raise NotImplementedError(f"no DuckDB rendering for {conn.source_type} yet")

    def spark(self, conn: ResolvedConnection) -> dict[str, str]:
        raise NotImplementedError(f"no Spark rendering for {conn.source_type} yet")

    def trino(self, conn: ResolvedConnection, env_prefix: str) -> dict[str, str]:
        """A Trino catalog's properties. Secrets appear only as `${ENV:<env_prefix>_<KEY>}`
        references, whose values `trino_env` gives; raises NotImplementedError (its message
        says why) when Trino cannot reach this depot."""
        raise NotImplementedError(f"no Trino rendering for depot type '{conn.source_type}'")

    def trino_env(self, conn: ResolvedConnection, env_prefix: str) -> dict[str, str]:
        """The values of the environment variables `trino` references: name -> secret."""
        return {}


_POOL = ThreadPoolExecutor(max_workers=64, thread_name_prefix="entrepot-check")


def run_check(
    connector: Connector, conn: ResolvedConnection, timeout: float = DEFAULT_TIMEOUT
) -> CheckResult:
    """Run a connector's check under a deadline. Never raises for a source's failure."""
    ctx = CheckContext(connector.steps(conn), timeout)

    def work() -> None:
        try:
            connector.check(conn, ctx)
        except _Stop:
            pass
        except Exception as exc:  # a connector bug or an unforeseen source error
            step = ctx.current
            if step is not None:
                ctx._finish(step, FAILED, reason=f"{type(exc).__name__}: {exc}", code="error")

    future = _POOL.submit(bind_scope(work))  # its redaction is the caller's request's
    try:
        future.result(timeout=ctx.remaining() + 0.05)
    except TimeoutError:
        ctx.expire()
    ctx.close()
    duration = (time.monotonic() - ctx.started) * 1000
    return CheckResult(conn.depot, conn.source_type, conn.acl, ctx.results, duration)


def unsupported(depot: str, source_type: str, acl: str) -> CheckResult:
    """The check of a depot whose type declares no check: one failed step saying why."""
    step = StepResult(
        "connector",
        "find a connector",
        FAILED,
        reason=f"{capabilities(source_type).why_not('check')}; the depot is stored and "
        "valid, but cannot be verified",
        hint=f"connectors today: {', '.join(types_with('check'))}",
        code="unsupported",
    )
    return CheckResult(depot, source_type, acl, [step], 0.0, unsupported=True)
