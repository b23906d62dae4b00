"""A throwaway Active Directory domain: a real Samba AD DC on loopback, provisioned in a temp dir.

Tests and `revoke demo` use it to rehearse the `active-directory` connector against the real thing. Samba's LDAP
ports are fixed (389, 636; 3268/3269 for the global catalog), so one domain runs per machine: `unavailable_reason()`
says why one cannot start here (not root, no samba binary, the ports already taken) so callers can skip loudly.

The DC serves LDAPS with a certificate from a throwaway CA for 127.0.0.1 and localhost (made with trustme, the
sandbox extra), so clients verify TLS as they would in production instead of switching verification off.
The seeding helpers talk to the DC over LDAPS as Administrator with ldap3; they are the tests' independent view of
the directory and share no code with the connector under test.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import ldap3
from ldap3.core.exceptions import LDAPException

REALM = "CORP.EXAMPLE.ORG"
DOMAIN = "CORP"
HOST = "127.0.0.1"
LDAP_PORTS = (389, 636)

# userAccountControl bits (MS-ADTS 2.2.16)
ACCOUNTDISABLE = 0x2
NORMAL_ACCOUNT = 0x200
DONT_EXPIRE_PASSWORD = 0x10000
# groupType bits (MS-ADTS 2.2.12)
GLOBAL_GROUP = 0x2
UNIVERSAL_GROUP = 0x8
SECURITY_ENABLED = 0x80000000


class SambaUnavailable(RuntimeError):
    """A Samba AD DC cannot run here; the message says why and what would fix it."""


def port_in_use(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def unavailable_reason() -> str | None:
    """Why a throwaway DC cannot start on this machine, or None when it can."""
    missing = [b for b in ("samba", "samba-tool") if shutil.which(b) is None
               and not Path("/usr/sbin", b).exists()]
    if missing:
        return (f"Samba AD DC not installed ({', '.join(missing)} not found): "
                "install the Debian package samba-ad-dc")
    if os.geteuid() != 0:
        return "a Samba AD DC needs root (it binds 389/636 and writes its database as root)"
    busy = [p for p in LDAP_PORTS if port_in_use(p)]
    if busy:
        return (f"port {'/'.join(map(str, busy))} on {HOST} is already in use (another LDAP server or a leftover "
                "samba?); Samba's LDAP ports are fixed, so stop that process first")
    return None


def _rpc_port_range() -> str:
    try:
        high = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        high = 60999
    return f"{high + 1}-65535" if high < 65000 else "49152-65535"


def _binary(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


def utf16_password(password: str) -> bytes:
    """AD's unicodePwd wire form: the quoted password in UTF-16-LE (MS-ADTS 3.1.1.3.1.5.1)."""
    return f'"{password}"'.encode("utf-16-le")


def new_password() -> str:
    # Meets AD's default complexity rule (three of: upper, lower, digit, symbol) whatever token_urlsafe yields.
    return "Rv-" + secrets.token_urlsafe(12) + "a7Q!"


@dataclass
class SeededUser:
    sam: str
    dn: str
    upn: str
    password: str


class SambaDC:
    """One provisioned domain in `workdir`. `start()` runs it; `stop()` ends exactly the process it started."""

    def __init__(self, workdir: Path | None = None, realm: str = REALM, domain: str = DOMAIN):
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="revoke-samba-"))
        self.realm = realm
        self.domain = domain
        self.dns_domain = realm.lower()
        self.base_dn = ",".join(f"DC={part}" for part in self.dns_domain.split("."))
        self.users_dn = f"CN=Users,{self.base_dn}"
        # a workdir provisioned earlier keeps its Administrator password next to it (mode 0600), so a rehearsal
        # domain can be stopped and started again
        self._password_file = self.workdir / "admin-password"
        self.admin_password = (self._password_file.read_text().strip() if self._password_file.exists()
                               else new_password())
        self.admin_upn = f"Administrator@{self.dns_domain}"
        self.admin_dn = f"CN=Administrator,{self.users_dn}"
        self.host = HOST
        self.port = 636
        self.ca_file = self.workdir / "tls" / "ca.pem"
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "samba.log"
        self._admin: ldap3.Connection | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------------

    def provision(self) -> None:
        reason = unavailable_reason()
        if reason:
            raise SambaUnavailable(reason)
        tls_dir = self._make_certificates()
        run = self.workdir / "run"
        run.mkdir(exist_ok=True)
        options = {
            "interfaces": "lo",
            "bind interfaces only": "yes",
            # keep every file of this domain inside workdir, so nothing leaks into the host's /var or /run
            "log file": str(self.workdir / "log.%m"),
            "pid directory": str(run),
            "winbindd socket directory": str(run / "winbindd"),
            "ncalrpc dir": str(run / "ncalrpc"),
            # Samba's RPC endpoints take dynamic ports (49152-65535 by default), which overlap the kernel's range
            # for ephemeral ports: a test server on a free port there made the DC die at start. Above it, they
            # cannot collide with anything bound to port 0.
            "rpc server dynamic port range": _rpc_port_range(),
            # lets a test add Exchange's msExchHideFromAddressLists to the schema, as installing Exchange does
            "dsdb:schema update allowed": "true",
            "tls enabled": "yes",
            "tls keyfile": str(tls_dir / "key.pem"),
            "tls certfile": str(tls_dir / "cert.pem"),
            "tls cafile": str(self.ca_file),
        }
        cmd = [_binary("samba-tool"), "domain", "provision", f"--targetdir={self.workdir}",
               f"--realm={self.realm}", f"--domain={self.domain}", "--server-role=dc", "--dns-backend=NONE",
               f"--adminpass={self.admin_password}"]
        cmd += [f"--option={k}={v}" for k, v in options.items()]
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=180)
        if done.returncode != 0:
            tail = done.stdout.decode(errors="replace")[-2000:].replace(self.admin_password, "********")
            raise SambaUnavailable(f"samba-tool domain provision failed ({done.returncode}):\n{tail}")
        self._password_file.touch(mode=0o600)
        self._password_file.write_text(self.admin_password + "\n")

    def _make_certificates(self) -> Path:
        import trustme  # the sandbox extra; imported here so the module loads without it

        tls_dir = self.ca_file.parent
        tls_dir.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost", f"dc.{self.dns_domain}")
        ca.cert_pem.write_to_path(str(self.ca_file))
        cert.cert_chain_pems[0].write_to_path(str(tls_dir / "cert.pem"))
        key = tls_dir / "key.pem"
        cert.private_key_pem.write_to_path(str(key))
        key.chmod(0o600)  # samba refuses a TLS key that others can read
        return tls_dir

    def start(self, timeout: float = 60.0) -> None:
        if not (self.workdir / "etc" / "smb.conf").exists():
            self.provision()
        busy = [p for p in LDAP_PORTS if port_in_use(p)]
        if busy:
            raise SambaUnavailable(f"port {'/'.join(map(str, busy))} on {HOST} is already in use; "
                                   "stop the other LDAP server or leftover samba first")
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [_binary("samba"), "-s", str(self.workdir / "etc" / "smb.conf"), "-i", "-M", "single"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SambaUnavailable(f"samba exited with {self.process.returncode} at start; "
                                       f"its log: {self.log_path}\n{self._log_tail()}")
            if self._ldaps_answers():
                return
            time.sleep(0.2)
        self.stop()
        raise SambaUnavailable(f"samba did not answer LDAPS on {HOST}:636 within {timeout:.0f} s; "
                               f"its log: {self.log_path}\n{self._log_tail()}")

    def _ldaps_answers(self) -> bool:
        try:
            conn = self.connect(self.admin_upn, self.admin_password)
        except LDAPException:
            return False
        conn.unbind()
        return True

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM to the samba root process this object started (it ends its smbd and winbindd), then wait."""
        if self._admin is not None:
            try:
                self._admin.unbind()
            except LDAPException:
                pass
            self._admin = None
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def cleanup(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "SambaDC":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cleanup()

    # --- the tests' independent view of the directory -----------------------------------------------------------

    def connect(self, user: str, password: str) -> ldap3.Connection:
        """A bound LDAPS connection verifying the DC's certificate; raises on a failed bind."""
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(self.ca_file))
        server = ldap3.Server(self.host, port=self.port, use_ssl=True, tls=tls, get_info=ldap3.NONE,
                              connect_timeout=5)
        return ldap3.Connection(server, user, password, auto_bind=True, receive_timeout=30,
                                raise_exceptions=True)

    def can_bind(self, user: str, password: str) -> bool:
        """Does this user's simple bind succeed? What a user notices first after being disabled."""
        try:
            conn = self.connect(user, password)
        except LDAPException:
            return False
        conn.unbind()
        return True

    @property
    def admin(self) -> ldap3.Connection:
        if self._admin is None or not self._admin.bound:
            self._admin = self.connect(self.admin_upn, self.admin_password)
        return self._admin

    def read(self, dn: str, attributes: Iterable[str]) -> dict[str, list[str]]:
        """The entry's attributes as lists of strings (empty lists for absent ones), read as Administrator."""
        attrs = list(attributes)
        self.admin.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=attrs)
        raw = self.admin.response[0]["raw_attributes"]
        return {a: [v.decode() for v in raw.get(a, [])] for a in attrs}

    def exists(self, dn: str) -> bool:
        try:
            self.admin.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["cn"])
        except ldap3.core.exceptions.LDAPNoSuchObjectResult:
            return False
        return bool(self.admin.response)

    def members(self, group_dn: str) -> set[str]:
        return {m.casefold() for m in self.read(group_dn, ["member"])["member"]}

    def add_ou(self, name: str) -> str:
        dn = f"OU={name},{self.base_dn}"
        self.admin.add(dn, ["top", "organizationalUnit"])
        return dn

    def add_user(self, sam: str, *, cn: str | None = None, ou_dn: str | None = None, password: str | None = None,
                 uac: int = NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD, **attrs: Any) -> SeededUser:
        dn = f"CN={cn or sam},{ou_dn or self.users_dn}"
        upn = f"{sam}@{self.dns_domain}"
        password = password or new_password()
        self.admin.add(dn, ["top", "person", "organizationalPerson", "user"], {
            "sAMAccountName": sam, "userPrincipalName": upn, "unicodePwd": utf16_password(password),
            "userAccountControl": str(uac), **attrs})
        return SeededUser(sam, dn, upn, password)

    def add_group(self, name: str, *, security: bool = True, universal: bool = False, mail: str | None = None,
                  members: Iterable[str] = (), ou_dn: str | None = None, **attrs: Any) -> str:
        """A security group, or a distribution group (no security bit, usually with mail)."""
        dn = f"CN={name},{ou_dn or self.users_dn}"
        group_type = UNIVERSAL_GROUP if universal else GLOBAL_GROUP
        if security:
            group_type |= SECURITY_ENABLED
        values: dict[str, Any] = {"sAMAccountName": name, "groupType": str(_signed32(group_type)), **attrs}
        if mail:
            values["mail"] = mail
        self.admin.add(dn, ["top", "group"], values)
        member_list = list(members)
        if member_list:
            self.add_members(dn, member_list)
        return dn

    def add_members(self, group_dn: str, member_dns: Iterable[str]) -> None:
        self.admin.modify(group_dn, {"member": [(ldap3.MODIFY_ADD, list(member_dns))]})

    def set_uac(self, dn: str, uac: int) -> None:
        self.admin.modify(dn, {"userAccountControl": [(ldap3.MODIFY_REPLACE, [str(uac)])]})

    def add_exchange_hide_attribute(self) -> None:
        _exchange_attribute(self)

    def uac(self, dn: str) -> int:
        return int(self.read(dn, ["userAccountControl"])["userAccountControl"][0])


def seed_engagement(dc: SambaDC) -> dict[str, Any]:
    """A domain for rehearsing a runbook (and for `revoke demo`): in OU=Consultants the leavers `alice` and `bob`
    (bob is the user the Graph sandbox shows as synced from on-premises AD), `carol` who stays, `dave` an admin the
    runbook protects; a service account `svc-revoke` (Domain Admins) with a fresh password; security groups
    `Engagement staff` and `VPN users` (nested in `Remote access`), the distribution list `acme-team`, and
    OU=Disabled Users. Answers group and OU name -> DN, `users` (sAMAccountName -> SeededUser, with passwords
    for checking binds) and `service` (the SeededUser revoke binds as)."""
    consultants = dc.add_ou("Consultants")
    ids: dict[str, Any] = {"Consultants": consultants, "Disabled Users": dc.add_ou("Disabled Users")}
    people = {sam: dc.add_user(sam, cn=name, ou_dn=consultants, mail=f"{sam}@{dc.dns_domain}")
              for sam, name in (("alice", "Alice Example"), ("bob", "Bob Example"), ("carol", "Carol Client"),
                                ("dave", "Dave Admin"))}
    ids["users"] = people
    service = dc.add_user("svc-revoke", cn="revoke service")
    dc.add_members(f"CN=Domain Admins,{dc.users_dn}", [service.dn, people["dave"].dn])
    ids["service"] = service
    dns = {sam: u.dn for sam, u in people.items()}
    ids["Engagement staff"] = dc.add_group("Engagement staff", members=[dns["alice"], dns["bob"], dns["carol"]],
                                           ou_dn=consultants)
    ids["VPN users"] = dc.add_group("VPN users", members=[dns["alice"], dns["bob"]], ou_dn=consultants)
    ids["Remote access"] = dc.add_group("Remote access", members=[ids["VPN users"]], ou_dn=consultants)
    ids["acme-team"] = dc.add_group("acme-team", security=False, universal=True, mail=f"acme-team@{dc.dns_domain}",
                                    members=[dns["alice"], dns["bob"], dns["carol"]], ou_dn=consultants)
    return ids


def runbook_settings(dc: SambaDC, service: SeededUser, secret_name: str = "corp_ad_password",
                     disabled_ou: str | None = None) -> dict[str, Any]:
    """The `settings:` of an active-directory system that points at this domain, verifying its TLS certificate."""
    settings: dict[str, Any] = {"url": f"ldaps://{dc.host}:{dc.port}", "bind_dn": service.upn,
                                "bind_password": {"secret": secret_name}, "ca_file": str(dc.ca_file)}
    if disabled_ou:
        settings["disabled_ou"] = disabled_ou
    return settings


def _exchange_attribute(dc: "SambaDC") -> None:
    """Add msExchHideFromAddressLists to the schema as Exchange's schema preparation does (attributeID and syntax
    from Exchange's schema; on the mailRecipient auxiliary class, which every group carries). One way: AD schema
    additions cannot be removed, so this domain keeps it until it is thrown away."""
    schema = f"CN=Schema,CN=Configuration,{dc.base_dn}"
    conn = dc.admin
    conn.add(f"CN=ms-Exch-Hide-From-Address-Lists,{schema}", ["top", "attributeSchema"], {
        "lDAPDisplayName": "msExchHideFromAddressLists", "attributeID": "1.2.840.113556.1.4.7000.102.73",
        "attributeSyntax": "2.5.5.8", "oMSyntax": "1", "isSingleValued": "TRUE",
        "adminDisplayName": "ms-Exch-Hide-From-Address-Lists"})
    _reload_schema(conn)
    conn.modify(f"CN=Mail-Recipient,{schema}",
                {"mayContain": [(ldap3.MODIFY_ADD, ["msExchHideFromAddressLists"])]})
    _reload_schema(conn)


def _reload_schema(conn: ldap3.Connection) -> None:
    # schemaUpdateNow on the rootDSE (empty DN), which ldap3 only sends with its DN check off
    conn.check_names = False
    try:
        conn.modify("", {"schemaUpdateNow": [(ldap3.MODIFY_ADD, ["1"])]})
    finally:
        conn.check_names = True


def _signed32(value: int) -> int:
    """groupType is a signed 32-bit integer on the wire: the security bit makes it negative."""
    return value - (1 << 32) if value & 0x80000000 else value
