"""A throwaway OpenLDAP server on loopback, for tests and for `revoke demo`.

It runs Debian's `slapd` from a `slapd.conf` in a temp dir: mdb, the ppolicy overlay with a default policy that
locks (`pwdLockout: TRUE`, so `pwdAccountLockedTime` really blocks binds), the memberof overlay, StartTLS with a
throwaway CA, and a service account `uid=revoke-svc` that holds exactly the rights revoke needs.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import ldap3

STARTTLS_TRIES = 5

MODULE_DIRS = ("/usr/lib/ldap", "/usr/lib/x86_64-linux-gnu/ldap", "/usr/lib/aarch64-linux-gnu/ldap",
               "/usr/lib/openldap", "/usr/libexec/openldap")
SCHEMA_DIR = Path("/etc/ldap/schema")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def slapd_binary() -> str | None:
    return shutil.which("slapd") or next((p for p in ("/usr/sbin/slapd",) if os.path.exists(p)), None)


def unavailable_reason() -> str | None:
    """Why a sandbox slapd cannot run here, or None when it can."""
    if not slapd_binary():
        return "slapd is not installed (Debian: apt-get install slapd ldap-utils)"
    if not any(Path(d, "ppolicy.so").exists() for d in MODULE_DIRS):
        return "slapd's ppolicy module is missing"
    if not (SCHEMA_DIR / "inetorgperson.schema").exists():
        return f"slapd schema files are missing from {SCHEMA_DIR}"
    return None


@dataclass
class Account:
    dn: str
    password: str


class Slapd:
    """Start with `start()`, stop with `stop()` (or use as a context manager). Passwords are generated here."""

    def __init__(self, workdir: Path, suffix: str = "dc=example,dc=org", tls: bool = True):
        self.workdir = Path(workdir)
        self.suffix = suffix
        self.tls = tls
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.admin = Account(f"cn=admin,{suffix}", secrets.token_urlsafe(18))
        self.service = Account(f"uid=revoke-svc,ou=services,{suffix}", secrets.token_urlsafe(18))
        self.ca_file: str | None = None

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def __enter__(self) -> "Slapd":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- lifecycle

    def start(self) -> "Slapd":
        reason = unavailable_reason()
        if reason:
            raise RuntimeError(reason)
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "db").mkdir(exist_ok=True)
        if self.tls:
            self._make_certificates()
        self.port = free_port()
        conf = self.workdir / "slapd.conf"
        conf.write_text(self._config(), encoding="utf-8")
        log = (self.workdir / "slapd.log").open("wb")
        self.proc = subprocess.Popen([slapd_binary() or "slapd", "-f", str(conf), "-h", f"{self.url}/", "-d", "0"],
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready()
        self._seed_base()
        return self

    def stop(self) -> None:
        conn = getattr(self, "_seed_conn", None)
        if conn is not None:
            conn.unbind()
            self._seed_conn = None
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def restart(self) -> None:
        """Stop and start again on the same port with the same data (for outage tests)."""
        self.stop()
        log = (self.workdir / "slapd.log").open("ab")
        self.proc = subprocess.Popen([slapd_binary() or "slapd", "-f", str(self.workdir / "slapd.conf"), "-h",
                                      f"{self.url}/", "-d", "0"], stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                tail = (self.workdir / "slapd.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"slapd exited with {self.proc.returncode}:\n{tail}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("slapd did not start listening within 15 s")

    def _make_certificates(self) -> None:
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        ca.cert_pem.write_to_path(str(self.workdir / "ca.pem"))
        cert.private_key_pem.write_to_path(str(self.workdir / "server.key"))
        cert.cert_chain_pems[0].write_to_path(str(self.workdir / "server.pem"))
        self.ca_file = str(self.workdir / "ca.pem")

    def _config(self) -> str:
        module_dir = next(d for d in MODULE_DIRS if Path(d, "ppolicy.so").exists())
        w, s, svc = self.workdir, self.suffix, self.service.dn
        tls = (f"TLSCACertificateFile {w}/ca.pem\nTLSCertificateFile {w}/server.pem\n"
               f"TLSCertificateKeyFile {w}/server.key\n") if self.tls else ""
        return f"""# written by revoke.sandbox.slapd
include {SCHEMA_DIR}/core.schema
include {SCHEMA_DIR}/cosine.schema
include {SCHEMA_DIR}/inetorgperson.schema
include {SCHEMA_DIR}/nis.schema
modulepath {module_dir}
moduleload back_mdb
moduleload ppolicy
moduleload memberof
pidfile {w}/slapd.pid
argsfile {w}/slapd.args
{tls}
database mdb
suffix "{s}"
rootdn "{self.admin.dn}"
rootpw {self.admin.password}
directory {w}/db
maxsize 1073741824
# a throwaway server: durability is not the point, and syncing every write would make it the bottleneck
dbnosync
index objectClass eq
index uid,mail,cn eq
index member,uniqueMember,memberUid eq

# revoke's service account: read everything, write only what revocation touches
access to attrs=userPassword
  by dn.exact="{svc}" write
  by self write
  by anonymous auth
  by * none
access to attrs=pwdAccountLockedTime
  by dn.exact="{svc}" manage
  by * read
access to *
  by dn.exact="{svc}" write
  by * read

overlay memberof
overlay ppolicy
ppolicy_default "cn=default,ou=policies,{s}"
"""

    # ---- data

    def _seeding(self) -> ldap3.Connection:
        """One admin connection kept for seeding: each new TLS connection costs ~0.1 s of CA-store loading."""
        conn = getattr(self, "_seed_conn", None)
        if conn is None or conn.closed:
            conn = self._seed_conn = self.admin_connection()
        return conn

    def admin_connection(self) -> ldap3.Connection:
        conn = self._connection(self.admin.dn, self.admin.password, raise_exceptions=True)
        conn.bind()
        return conn

    def _connection(self, user: str, password: str, *, raise_exceptions: bool) -> ldap3.Connection:
        """An open connection, upgraded with StartTLS when this server has TLS. A busy slapd now and then refuses
        a fresh connection's StartTLS as if operations were outstanding on it (seen in CI; perl-ldap#61 saw it
        too): then a new connection, and never a bind in the clear."""
        for attempt in range(1, STARTTLS_TRIES + 1):
            conn = ldap3.Connection(ldap3.Server(self.url), user=user, password=password,
                                    raise_exceptions=raise_exceptions)
            conn.open()
            if not self.tls:
                return conn
            try:
                if conn.start_tls():
                    return conn
                why = str(conn.result)
            except ldap3.core.exceptions.LDAPOperationsErrorResult as err:
                why = str(err)
            conn.unbind()
            time.sleep(0.05 * attempt)
        raise RuntimeError(f"slapd at {self.url} refused StartTLS {STARTTLS_TRIES} times: {why}")

    def _seed_base(self) -> None:
        dc = self.suffix.split(",")[0].split("=")[1]
        with self.admin_connection() as c:
            c.add(self.suffix, ["top", "dcObject", "organization"], {"o": dc, "dc": dc})
            for ou in ("people", "groups", "lists", "services", "policies"):
                c.add(f"ou={ou},{self.suffix}", ["organizationalUnit"], {"ou": ou})
            c.add(f"cn=default,ou=policies,{self.suffix}", ["pwdPolicy", "person"],
                  {"cn": "default", "sn": "default", "pwdAttribute": "userPassword", "pwdLockout": "TRUE",
                   "pwdMaxFailure": "5"})
            c.add(self.service.dn, ["inetOrgPerson"], {"uid": "revoke-svc", "cn": "revoke service account",
                                                       "sn": "svc", "userPassword": self.service.password})

    def add_user(self, uid: str, password: str | None = None, *, mail: str | None = None,
                 uid_number: int | None = None) -> Account:
        password = password or secrets.token_urlsafe(12)
        dn = f"uid={uid},ou=people,{self.suffix}"
        attrs = {"uid": uid, "cn": uid.title(), "sn": uid, "userPassword": password}
        if mail:
            attrs["mail"] = mail
        classes = ["inetOrgPerson"]
        if uid_number is not None:
            classes.append("posixAccount")
            attrs.update({"uidNumber": str(uid_number), "gidNumber": "100", "homeDirectory": f"/home/{uid}"})
        self._seeding().add(dn, classes, attrs)
        return Account(dn, password)

    def add_group(self, cn: str, members: Iterable[str], *, kind: str = "groupOfNames", ou: str = "groups",
                  mail: str | None = None, gid_number: int = 1000) -> str:
        dn = f"cn={cn},ou={ou},{self.suffix}"
        members = list(members)
        attrs: dict[str, object] = {"cn": cn}
        if kind == "groupOfNames":
            classes, attrs["member"] = ["groupOfNames"], members
        elif kind == "groupOfUniqueNames":
            classes, attrs["uniqueMember"] = ["groupOfUniqueNames"], members
        elif kind == "posixGroup":
            classes, attrs["gidNumber"] = ["posixGroup"], str(gid_number)
            if members:
                attrs["memberUid"] = members
        else:
            raise ValueError(kind)
        if mail:
            classes.append("extensibleObject")
            attrs["mail"] = mail
        self._seeding().add(dn, classes, attrs)
        return dn

    def can_bind(self, dn: str, password: str) -> bool:
        conn = self._connection(dn, password, raise_exceptions=False)
        try:
            return bool(conn.bind())
        finally:
            conn.unbind()

    def read(self, dn: str, attributes: list[str] | None = None) -> dict[str, list[str]] | None:
        """An entry's attributes as the admin sees them, or None when it does not exist."""
        c = self._seeding()
        try:
            c.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=attributes or ["*", "+"])
        except ldap3.core.exceptions.LDAPNoSuchObjectResult:
            return None
        if not c.entries:
            return None
        return {k: [v.decode() if isinstance(v, bytes) else str(v) for v in vals]
                for k, vals in c.response[0]["raw_attributes"].items()}
