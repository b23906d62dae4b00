"""The one redactor: every error message, evidence record and log line revoke writes passes through it.

It knows two things: the values of the secrets this process loaded (`revoke.secrets` registers each one as it
reads it), and the shapes credentials take in SDK logs and provider errors, so a credential revoke never loaded
(an assumed role's session token, a token in a response body) is caught too. Logs lose AWS access key ids as
well (botocore signs every request with one), which evidence keeps: a leaver's key id is what an action names.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import Any

from revoke.errors import RevokeError

MASK = "********"
MIN_LENGTH = 4  # shorter values would mask ordinary words; no credential revoke reads is that short

# Credential shapes, each a prefix kept and a value masked; names as botocore, msal, slack_sdk and ldap3 log them.
# Only code-like forms (name=value, "name": "value", <Name>value): prose such as "password: invalid" stays.
_NAMES = (r"(?:aws_secret_access_key|secret_?access_?key|session_?token|security_?token|x-amz-security-token"
          r"|client_secret|client_assertion|refresh_token|access_token|id_token|password|passwd|bind_?password"
          r"|userPassword|api_?key|token)")
_VALUE = r"([^\s\"'<>,;&}\])]{4,})"
_SHAPES = [
    re.compile(rf"(?i)(\b{_NAMES}=)" + _VALUE),                                   # form bodies, query strings
    re.compile(rf"(?i)([\"']{_NAMES}[\"']\s*:\s*(?-i:b)?[\"'])" + _VALUE),              # JSON, Python reprs
    re.compile(rf"(?i)(<{_NAMES}>)" + _VALUE),                                     # AWS's XML answers
    re.compile(r"(?i)(\b(?:Bearer|Basic|SSWS)\s+)([A-Za-z0-9._~+/=-]{8,})"),
    re.compile(r"(?i)(\b(?:Authorization|X-Amz-Security-Token)[\"']?\s*[:=]\s*(?-i:b)?[\"']?)([^\"'\r\n]{8,})"),
    re.compile(r"()(\bxox[abposr]-[A-Za-z0-9-]{8,})"),
]
_HINTS = ("pass", "secret", "token", "key", "bearer", "basic", "ssws", "authori", "xox", "assertion")
# only in logs: botocore names the access key id in every signature (Credential=AKIA.../...)
_KEY_IDS = re.compile(r"()(\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{12,}\b)")


class Redactor:
    """Masks known secret values and credential shapes. Thread-safe; one per process (`REDACTOR`)."""

    def __init__(self) -> None:
        self._values: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def add(self, *values: str) -> None:
        """Secret values to mask from now on, with the forms JSON and URLs give them."""
        with self._lock:
            known = set(self._values)
            for value in values:
                if value and len(value) >= MIN_LENGTH:
                    known.add(value)
                    known.add(json.dumps(value, ensure_ascii=False)[1:-1])  # as it stands inside JSON
                    known.add(json.dumps(value)[1:-1])
            # longest first, so a secret that contains another is masked whole
            self._values = tuple(sorted(known, key=len, reverse=True))

    def knows(self, text: str) -> bool:
        return any(v in text for v in self._values)

    def __call__(self, text: str, *, log: bool = False) -> str:
        if not text:
            return text
        for value in self._values:
            if value in text:
                text = text.replace(value, MASK)
        for shape in _SHAPES:
            text = shape.sub(_mask, text)
        if log:
            text = _KEY_IDS.sub(_mask, text)
        return text

    def scrub(self, obj: Any) -> Any:
        """A copy of a JSON-like value with every string redacted (an evidence record, a plan notice)."""
        if isinstance(obj, str):
            return self(obj)
        if isinstance(obj, dict):
            return {k: self.scrub(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.scrub(v) for v in obj]
        return obj

    def shaped(self, text: str) -> bool:
        """Whether `text` holds a credential shape (not yet masked); cheap for text without a hint of one."""
        lower = text.lower()
        if not any(hint in lower for hint in _HINTS):
            return False
        return any(_mask(m) != m.group(0) for shape in _SHAPES for m in shape.finditer(text))


def _mask(m: re.Match[str]) -> str:
    value = m.group(2)
    if MASK in value:  # masked already (a token inside an Authorization header)
        return m.group(0)
    return m.group(1) + MASK


REDACTOR = Redactor()


def redact(text: str) -> str:
    return REDACTOR(text)


def failure_message(err: BaseException, system: str, connector: str, during: str) -> str:
    """What a run records when a connector call failed, redacted: a RevokeError's own message, or, for any other
    exception (a connector bug), its type and text, logged with the traceback. The one wrapper for connector
    failures in plan, apply, read-back and restore: a bug fails its system or its actions, never the run."""
    if isinstance(err, RevokeError):
        return redact(str(err))
    logging.getLogger("revoke.engine").exception("%s: connector %s raised an unexpected error during %s", system,
                                                 connector, during)
    return redact(f"unexpected error in connector {connector}: {type(err).__name__}: {err}")


class RedactingFilter(logging.Filter):
    """Installed on the CLI's log handlers: every record is formatted, then redacted, before any handler sees it
    (the message, its arguments, the traceback and the stack), so SDK debug logging cannot print a credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string still gets logged, redacted
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = REDACTOR(message, log=True), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = REDACTOR(record.exc_text, log=True)
        if record.stack_info:
            record.stack_info = REDACTOR(record.stack_info, log=True)
        return True


def install_log_filter(logger: logging.Logger | None = None) -> None:
    """Put the redacting filter on every handler of `logger` (the root logger by default)."""
    logger = logger or logging.getLogger()
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
