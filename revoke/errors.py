"""The few named errors revoke raises. The CLI turns each into one message and an exit code.

Provider exceptions are translated into these at the connector's edge, once; nothing above a connector ever sees
an ldap3, botocore or requests exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class RevokeError(Exception):
    """Base of every error revoke reports to the user. `str(err)` is the whole message, with the fix in it."""

    exit_code = 1


@dataclass
class Problem:
    """One located mistake in an input file (runbook, plan, evidence)."""

    file: str
    line: int | None
    field: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text


MAX_SHOWN = 50  # problems a message lists; the rest are counted (a broken file can hold millions)


class RunbookError(RevokeError):
    """A runbook (or plan, or evidence file) that cannot be used; says the first `MAX_SHOWN` problems found, each
    located, and how many more there are. `problems` holds them all."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        shown = [str(p) for p in problems[:MAX_SHOWN]]
        if len(problems) > MAX_SHOWN:
            shown.append(f"... and {len(problems) - MAX_SHOWN:,} more problems ({len(problems):,} in all); "
                         "fix these first")
        super().__init__("\n".join(shown))


class SecretMissing(RevokeError):
    def __init__(self, name: str, looked_in: list[str], more: list[str] | None = None):
        self.name = name
        self.looked_in = looked_in
        also = f" (nor {', '.join(more)})" if more else ""
        super().__init__(f"secret {name} is not set{also}: looked in {', '.join(looked_in)}\n"
                         f"    hint: set REVOKE_{name.upper()} in the environment or in the runbook's .env, or write "
                         f"it to a file named {name} in $REVOKE_SECRETS_DIR")


class ConnectionFailed(RevokeError):
    def __init__(self, system: str, reason: str):
        self.system = system
        self.reason = reason
        super().__init__(f"{system}: cannot connect: {reason}")


class ActionFailed(RevokeError):
    """A provider refused or failed one action. `retryable` marks throttling and transient outages."""

    def __init__(self, reason: str, *, retryable: bool = False, retry_after: float | None = None,
                 request_ids: list[str] | None = None):
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        self.request_ids = request_ids or []
        super().__init__(reason)


class NotSupported(RevokeError):
    """The target system has no way to do this (e.g. an API the service or emulator does not implement)."""


class StalePlan(RevokeError):
    def __init__(self, message: str):
        super().__init__(message)


class GuardrailRefused(RevokeError):
    def __init__(self, message: str):
        super().__init__(message)


class EvidenceInvalid(RevokeError):
    """Evidence verification found a changed, missing or extra byte."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class ConnectorNotFound(RevokeError):
    name: str
    available: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        known = ", ".join(sorted(self.available)) or "none"
        return (f"no connector named '{self.name}' is installed (installed: {known}); "
                "install its package or fix the name")
