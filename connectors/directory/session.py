"""The ldap3 connection layer shared by the `ldap` and `active-directory` connectors.

TLS by default (LDAPS, or StartTLS on ldap://); plain LDAP only with `insecure: true`, which the plan warns about.
One bound connection per thread, because an ldap3 synchronous connection is not safe to share and the engine
applies actions from several threads. Result codes and socket errors become revoke's named errors here, once.
"""

from __future__ import annotations

import base64
import re
import ssl
import threading
from typing import Any

import ldap3
from ldap3.core import exceptions as ldap_exc
from ldap3.utils.conv import escape_filter_chars
from pydantic import BaseModel, ConfigDict, Field

from revoke.errors import ActionFailed, ConnectionFailed, RevokeError
from revoke.runbook import SecretRef

# result codes (RFC 4511) the connectors act on
SUCCESS = 0
NO_SUCH_ATTRIBUTE = 16
VALUE_EXISTS = 20
NO_SUCH_OBJECT = 32
INVALID_CREDENTIALS = 49
INSUFFICIENT_ACCESS = 50
BUSY = 51
UNAVAILABLE = 52
UNWILLING = 53
OBJECT_CLASS_VIOLATION = 65
CONFIDENTIALITY_REQUIRED = 13
STRONGER_AUTH_REQUIRED = 8
ENTRY_EXISTS = 68


class LdapConnectionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="ldaps://host:636, or ldap://host:389 with StartTLS",
                     examples=["ldaps://ldap.corp.example"])
    bind_dn: str = Field(description="the account revoke binds as (it is never acted on)",
                         examples=["uid=revoke-svc,ou=services,dc=example,dc=org"])
    bind_password: SecretRef = Field(description="its password, as {secret: NAME}", examples=[{"secret": "corp_ldap"}])
    start_tls: bool = Field(True, description="on ldap:// urls, upgrade to TLS with StartTLS before binding")
    insecure: bool = Field(False, description="allow plain LDAP without TLS (the password crosses the network in "
                           "clear text; the plan warns)")
    ca_file: str | None = Field(None, description="PEM file of the CA that signed the server's certificate, when "
                                "this machine does not trust it already", examples=["/etc/ssl/corp-ca.pem"])
    tls_verify: bool = Field(True, description="check the server's certificate (false: any certificate is "
                             "accepted; the plan warns)")
    tls_server_name: str | None = Field(
        default=None, description="the name the server's certificate carries, when the url names the server "
        "otherwise (an IP address, an alias, a tunnel): checked instead of the url's host, and sent as SNI",
        examples=["ldap.corp.example"])
    timeout: float = Field(10.0, description="seconds to wait for the server to connect and answer")


def connection_warnings(s: LdapConnectionSettings) -> list[str]:
    out = []
    if s.url.startswith("ldap://") and (s.insecure or not s.start_tls):
        out.append(f"{s.url}: plain LDAP without TLS (insecure: true): the bind password and every change "
                   "cross the network in clear text")
    if not s.tls_verify:
        out.append(f"{s.url}: tls_verify is false: the server's certificate is not checked")
    return out


class LdapSession:
    """Thread-local bound connections to one directory."""

    def __init__(self, system: str, settings: LdapConnectionSettings, password: str | None):
        self.system = system
        self.settings = settings
        self._password = password
        self._local = threading.local()
        self._all: list[ldap3.Connection] = []
        self._lock = threading.Lock()
        use_ssl = settings.url.lower().startswith("ldaps://")
        if not use_ssl and not settings.start_tls and not settings.insecure:
            raise ConnectionFailed(system, f"{settings.url} is plain LDAP and start_tls is off; use ldaps://, "
                                   "keep start_tls: true, or set insecure: true to accept clear text on purpose")
        name = settings.tls_server_name
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED if settings.tls_verify else ssl.CERT_NONE,
                        ca_certs_file=settings.ca_file, version=ssl.PROTOCOL_TLS_CLIENT,
                        valid_names=[name] if name else None, sni=name)
        self._server = ldap3.Server(settings.url, use_ssl=use_ssl, tls=tls, get_info=ldap3.NONE,
                                    connect_timeout=max(1, int(settings.timeout)))
        self._start_tls = not use_ssl and settings.start_tls and not settings.insecure

    def conn(self) -> ldap3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed:
            return conn
        conn = self._open()
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn

    def _open(self) -> ldap3.Connection:
        s = self.settings
        conn = ldap3.Connection(self._server, user=s.bind_dn, password=self._password, auto_bind=ldap3.AUTO_BIND_NONE,
                                raise_exceptions=False, receive_timeout=max(1, int(s.timeout)), read_only=False)
        try:
            conn.open()
            if self._start_tls and not conn.start_tls():
                raise ConnectionFailed(self.system, f"StartTLS on {s.url} failed: {_describe(conn.result)}; "
                                       + _starttls_hint(conn.result))
            if not conn.bind():
                raise self._bind_error(conn.result)
        except (ldap_exc.LDAPStartTLSError, ldap_exc.LDAPCertificateError) as err:
            raise ConnectionFailed(self.system, f"TLS with {s.url} failed: {_tls_reason(err, s)}") from None
        except ldap_exc.LDAPSocketOpenError as err:
            if _is_tls(err):
                raise ConnectionFailed(self.system, f"TLS with {s.url} failed: {_tls_reason(err, s)}") from None
            raise ConnectionFailed(self.system, f"cannot reach {s.url}: {_socket_reason(err)}; is the server "
                                   "running and the url right?") from None
        except ldap_exc.LDAPException as err:
            raise ConnectionFailed(self.system, f"{s.url}: {type(err).__name__}: {err}") from None
        return conn

    def _bind_error(self, result: dict[str, Any]) -> RevokeError:
        s = self.settings
        code = result.get("result")
        if code == INVALID_CREDENTIALS:
            return ConnectionFailed(self.system, f"bind as {s.bind_dn} refused: invalid credentials; check the "
                                    f"secret '{s.bind_password.secret}'")
        if code in (CONFIDENTIALITY_REQUIRED, STRONGER_AUTH_REQUIRED):
            return ConnectionFailed(self.system, f"{s.url} refuses a simple bind without TLS (result {code}, "
                                    f"{result.get('description')}); use ldaps:// or StartTLS")
        return ConnectionFailed(self.system, f"bind as {s.bind_dn} failed: {_describe(result)}")

    def whoami(self) -> str:
        try:
            answer = self.conn().extend.standard.who_am_i()
        except ldap_exc.LDAPException:
            answer = None
        return (answer or "").removeprefix("dn:") if isinstance(answer, str) else ""

    def drop(self) -> None:
        """Forget this thread's connection after a socket error, so the next call reconnects."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            try:
                conn.unbind()
            except ldap_exc.LDAPException:
                pass
            self._local.conn = None

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for c in conns:
            try:
                c.unbind()
            except ldap_exc.LDAPException:
                pass

    def call(self, what: str, fn: Any, *args: Any, ok: tuple[int, ...] = (SUCCESS,), **kwargs: Any) -> dict[str, Any]:
        """Run one ldap3 operation on this thread's connection; answer its result or raise a named error."""
        conn = self.conn()
        try:
            fn(conn, *args, **kwargs)
        except ldap_exc.LDAPCommunicationError as err:
            self.drop()
            raise ActionFailed(f"{what}: lost the connection to {self.settings.url}: {err}") from None
        except ldap_exc.LDAPException as err:
            raise ActionFailed(f"{what}: {type(err).__name__}: {err}") from None
        result = dict(conn.result or {})
        result["entries"] = list(conn.response or []) if fn is _search else []
        code = result.get("result")
        if code in ok:
            return result
        retryable = code in (BUSY, UNAVAILABLE)
        if code == INSUFFICIENT_ACCESS:
            raise ActionFailed(f"{what}: {self.settings.bind_dn} lacks the rights ({_describe(result)}); "
                               "`revoke permissions` lists what this connector needs")
        raise ActionFailed(f"{what}: {_describe(result)}", retryable=retryable)

    def search(self, what: str, base: str, flt: str, attributes: list[str] | str, *,
               scope: str = ldap3.SUBTREE, ok: tuple[int, ...] = (SUCCESS,)) -> dict[str, Any]:
        return self.call(what, _search, base, flt, scope, attributes, ok=ok)


def _search(conn: ldap3.Connection, base: str, flt: str, scope: str, attributes: Any) -> None:
    conn.search(base, flt, search_scope=scope, attributes=attributes, paged_size=None)


def _describe(result: dict[str, Any] | None) -> str:
    if not result:
        return "no answer"
    text = f"{result.get('description')} (result {result.get('result')})"
    if result.get("message"):
        text += f": {result['message']}"
    return text


def _starttls_hint(result: dict[str, Any] | None) -> str:
    if (result or {}).get("result") == 2 or "protocolError" in str((result or {}).get("description")):
        # the server has no StartTLS (no certificate configured): it answers protocolError
        return ("the server does not offer StartTLS: use its ldaps:// url, or, to send the bind password in clear "
                "text on purpose, set insecure: true")
    return "check ca_file, or use ldaps://"


def _is_tls(err: Exception) -> bool:
    text = str(err).lower()
    return any(w in text for w in ("certificate", "ssl", "tls", "doesn't match", "handshake"))


def _tls_reason(err: Exception, s: Any) -> str:
    """Why TLS failed, with the setting that fixes it."""
    text = str(err)
    if "protocolError" in text:
        return _starttls_hint({"result": 2})
    if "doesn't match" in text or "hostname" in text.lower() or "match any name" in text:
        host = s.tls_server_name or s.url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
        return (f"the server's certificate does not name {host}; connect by the name in the certificate, or set "
                "tls_server_name: to that name")
    if "verify failed" in text.lower() or "unknown ca" in text.lower() or "self-signed" in text.lower():
        return ("the server's certificate is not signed by a CA this machine trusts; set ca_file: to the CA "
                "that signed it (PEM)")
    return f"{type(err).__name__}: {text}; check ca_file and tls_server_name"


def _socket_reason(err: Exception) -> str:
    text = str(err)
    if "refused" in text.lower():
        return "connection refused"
    if "timed out" in text.lower():
        return "timed out"
    if "invalid server address" in text:  # ldap3's words when every address failed moments ago and is benched
        return "not answering (it refused or dropped a connection moments ago)"
    return text


def entry_attrs(entry: dict[str, Any]) -> dict[str, list[str]]:
    """An entry's attributes as lists of strings (bytes are decoded, or base64-encoded with a 'b64:' prefix)."""
    out: dict[str, list[str]] = {}
    raw = entry.get("raw_attributes") or {}
    for name, values in raw.items():
        items = []
        for v in values:
            if isinstance(v, bytes):
                try:
                    items.append(v.decode("utf-8"))
                except UnicodeDecodeError:
                    items.append("b64:" + base64.b64encode(v).decode())
            else:
                items.append(str(v))
        out[name] = items
    return out


def first(attrs: dict[str, list[str]], name: str) -> str | None:
    for key, values in attrs.items():
        if key.lower() == name.lower() and values:
            return values[0]
    return None


def values(attrs: dict[str, list[str]], name: str) -> list[str]:
    for key, vals in attrs.items():
        if key.lower() == name.lower():
            return vals
    return []


_DN_SPACES = re.compile(r"\s*([,=+])\s*")


def norm_dn(dn: str) -> str:
    dn = dn.strip()
    if not any(c in dn for c in " \t\r\n"):  # the usual case, and ten times faster than the substitution
        return dn.casefold()
    return _DN_SPACES.sub(lambda m: m.group(1), dn).casefold()


def escape(value: str) -> str:
    return escape_filter_chars(value)
