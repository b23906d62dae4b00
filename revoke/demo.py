"""`revoke demo`: a local sandbox seeded with an engagement, run end to end.

The sandbox runs on loopback only: a real OpenLDAP `slapd` when it is installed, AWS emulated by moto's server,
and the local Microsoft Graph, Exchange Online, Slack and GitHub fakes. It seeds the Acme engagement (leavers in
every system, a protected admin, a distribution list, channels), copies the offboarding checklist page, and runs
what an operator runs: validate, plan, apply, evidence verify. Secrets are generated here and written only to the
demo folder's `.env`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import yaml

LEAVERS = {"Alice Example": "alice", "Bob Example": "bob"}


class Sandbox:
    """The servers and fakes of the demo, their seed data, and the runbook that points at them."""

    def __init__(self, workdir: Path, say: Callable[[str], None]):
        self.workdir = workdir
        self.say = say
        self.servers = Path(tempfile.mkdtemp(prefix="revoke-sandbox-"))
        self.systems: dict[str, Any] = {}
        self.people: dict[str, dict[str, Any]] = {name: {} for name in [*LEAVERS, "Dave Admin"]}
        for name, short in LEAVERS.items():
            self.people[name]["email"] = f"{short}@consult.example"
        self.lists: list[dict[str, Any]] = []
        self.protect: list[Any] = []
        self.env: dict[str, str] = {}
        self.running: dict[str, Any] = {}  # name -> the server or fake, with what it was seeded with (for tests)
        self._stops: list[Callable[[], None]] = []

    # ---- lifecycle

    def start(self) -> None:
        for start in (self._ldap, self._aws, self._graph, self._slack, self._github, self._google, self._okta):
            try:
                start()
            except Exception as err:  # noqa: BLE001 - one missing piece must not stop the others
                self.say(f"  (skipping {start.__name__.strip('_')}: {type(err).__name__}: {err})")

    def stop(self) -> None:
        while self._stops:
            with contextlib.suppress(Exception):
                self._stops.pop()()
        shutil.rmtree(self.servers, ignore_errors=True)

    def secret(self, name: str, value: str) -> dict[str, str]:
        self.env[f"REVOKE_{name.upper()}"] = value
        return {"secret": name}

    # ---- services

    def _ldap(self) -> None:
        from revoke.sandbox.slapd import Slapd, unavailable_reason

        reason = unavailable_reason()
        if reason:
            self.say(f"  LDAP: {reason}; the demo runs without it")
            return
        server = Slapd(self.servers / "slapd").start()
        self._stops.append(server.stop)
        self.running["ldap"] = server
        users = {u: server.add_user(u, mail=f"{u}@consult.example") for u in ("alice", "bob", "carol", "dave")}
        server.add_group("engineering", [users["alice"].dn, users["carol"].dn])
        server.add_group("vpn-users", [users["alice"].dn, users["bob"].dn, users["dave"].dn])
        server.add_group("alice-sandbox", [users["alice"].dn])
        dl = server.add_group("acme-team", [users["alice"].dn, users["carol"].dn], ou="lists",
                              mail="acme-team@consult.example")
        self.systems["corp-ldap"] = {"connector": "ldap", "settings": {
            "url": server.url, "bind_dn": server.service.dn, "bind_password": self.secret("corp_ldap",
                                                                                          server.service.password),
            "ca_file": server.ca_file, "base_dn": server.suffix, "people_base": f"ou=people,{server.suffix}"}}
        for name, short in LEAVERS.items():
            self.people[name].setdefault("ids", {})["corp-ldap"] = short
        self.people["Dave Admin"].setdefault("ids", {})["corp-ldap"] = "dave"
        self.protect.append({"system": "corp-ldap", "id": "dave"})
        self.lists.append({"system": "corp-ldap", "id": dl})
        self.say(f"  LDAP:   slapd on {server.url} (StartTLS), 4 people, 3 groups, distribution list acme-team")

    def _aws(self) -> None:
        from revoke.sandbox.aws import MotoServer, seed_engagement

        server = MotoServer().start()
        self._stops.append(server.stop)
        seeded = seed_engagement(server.url, member_accounts=2)
        creds = {"endpoint_url": server.url, "region": "us-east-1",
                 "access_key_id": self.secret("aws_key", seeded.credentials["aws_access_key_id"]),
                 "secret_access_key": self.secret("aws_secret", seeded.credentials["aws_secret_access_key"])}
        self.systems["aws"] = {"connector": "aws-iam", "settings": dict(creds)}
        self.systems["aws-sso"] = {"connector": "aws-identity-center", "settings": dict(creds)}
        for name, short in LEAVERS.items():
            ids = self.people[name].setdefault("ids", {})
            ids["aws"] = short
            ids["aws-sso"] = f"{short}@example.com"
        self.say(f"  AWS:    moto on {server.url}, an organization of {len(seeded.accounts)} accounts, "
                 "IAM users with keys, MFA, roles; Identity Center")

    def _graph(self) -> None:
        from revoke.sandbox.graph import GraphFake, runbook_settings, seed_engagement

        fake = GraphFake().start()
        self._stops.append(fake.stop)
        ids = seed_engagement(fake, domain="contoso.test")
        self.running["graph"], self.running["graph_ids"] = fake, ids
        settings = {**runbook_settings(fake, ids["client_id"]), "async_poll_seconds": 0.2}
        settings["client_secret"] = self.secret("graph_secret", ids["client_secret"])
        self.systems["entra"] = {"connector": "entra", "settings": dict(settings)}
        self.systems["m365"] = {"connector": "m365-groups", "settings": dict(settings)}
        for name, short in LEAVERS.items():
            self.people[name].setdefault("ids", {})["entra"] = f"{short}@contoso.test"
        self.lists += [{"system": "m365", "id": ids["Acme project"], "options": {"guests": True}},
                       {"system": "m365", "id": ids["acme-list"], "close": "delete"}]
        self.say(f"  Graph:  fake on {fake.base_url}, a cloud and a synced leaver, a team to archive, a mailing "
                 "list, dynamic and mail-enabled groups")
        self._exchange(fake, ids, settings)

    def _exchange(self, graph: Any, ids: dict[str, str], graph_settings: dict[str, Any]) -> None:
        """Exchange Online beside the Graph fake: the distribution list is closed there (item 4), the same app."""
        from revoke.sandbox.exchange import ExchangeFake
        from revoke.sandbox.exchange_seed import seed_engagement

        exo = ExchangeFake(graph).start()
        self._stops.append(exo.stop)
        seed_engagement(exo, ids, domain="contoso.test")
        settings = {k: v for k, v in graph_settings.items() if k not in ("graph_url", "async_poll_seconds")}
        self.systems["exchange"] = {"connector": "exchange-online", "settings": {**settings,
                                                                                 "base_url": exo.base_url}}
        for name, short in LEAVERS.items():
            self.people[name].setdefault("ids", {})["exchange"] = f"{short}@contoso.test"
        self.lists.append({"system": "exchange", "id": "acme-dl@contoso.test"})
        self.say(f"  Exchange: fake of InvokeCommand on {exo.base_url}, the distribution list acme-dl to lock, a "
                 "shared mailbox, an inbox rule forwarding out")

    def _slack(self) -> None:
        from revoke.sandbox.slack import SlackFake, seed_engagement

        fake = SlackFake().start()
        self._stops.append(fake.stop)
        self.running["slack"] = fake
        token = "xoxb-" + secrets.token_hex(12)
        seed_engagement(fake, token, prefix="acme-", leavers={s: f"{s}@consult.example" for s in LEAVERS.values()})
        self.systems["slack"] = {"connector": "slack", "identify_by": "email", "settings": {
            "token": self.secret("slack_token", token), "base_url": fake.base_url, "channel_prefix": "acme-",
            "closing_message": "This engagement has ended; the channel is archived. Thank you!"}}
        # the operator's decision the plan asks for: the Slack Connect channel is the partner's too, so it stays open
        # (the leavers are still removed from it); with it made, item 4 can reach Done
        self.lists.append({"system": "slack", "id": "#acme-partner", "close": "keep"})
        self.say(f"  Slack:  fake on {fake.base_url}, channels #acme-general, #acme-dev and more")

    def _github(self) -> None:
        import githubkit  # noqa: F401 - the connector's client (the `github` extra): without it, no GitHub here

        from revoke.sandbox.github import GitHubFake
        from revoke.sandbox.github_seed import seed_engagement

        fake = GitHubFake().start()
        self._stops.append(fake.stop)
        seeded = seed_engagement(fake)
        self.systems["github"] = {"connector": "github", "settings": seeded.settings(
            fake, self.secret("github_token", seeded.token))}
        for name, login in seeded.leavers.items():
            self.people[name].setdefault("ids", {})["github"] = login
        self.lists += [{"system": "github", "id": x} for x in seeded.lists]
        self.say(f"  GitHub: fake on {fake.base_url}, organisations acme (SAML SSO) and acme-labs, a team and a "
                 "repository to close")

    def _google(self) -> None:
        import googleapiclient  # noqa: F401 - the connector's client (the `google` extra): without it, no Google here

        from revoke.sandbox.google import GoogleFake
        from revoke.sandbox.google_seed import seed_engagement

        fake = GoogleFake().start()
        self._stops.append(fake.stop)
        seeded = seed_engagement(fake)
        self.systems["workspace"] = {"connector": "google-workspace", "settings": seeded.settings(
            fake, self.secret("google_key", seeded.key_json))}
        for name, email in seeded.leavers.items():
            self.people[name].setdefault("ids", {})["workspace"] = email
        self.lists += [{"system": "workspace", **({"id": x} if isinstance(x, str) else x)} for x in seeded.lists]
        self.protect.append({"system": "workspace", "id": "superuser@acme.test"})
        self.say(f"  Google: fake on {fake.base_url}, accounts with app passwords and OAuth grants, Google Groups "
                 "(one archived, one deleted) and a Chat space")

    def _okta(self) -> None:
        import jwt  # noqa: F401 - the `okta` extra (an OAuth service app's client assertion): without it, no Okta

        from revoke.sandbox.okta import OktaFake
        from revoke.sandbox.okta_seed import seed_engagement

        fake = OktaFake().start()
        self._stops.append(fake.stop)
        seeded = seed_engagement(fake)
        self.systems["okta"] = {"connector": "okta", "settings": seeded.settings(
            fake, self.secret("okta_token", seeded.token))}
        for name, login in seeded.leavers.items():
            if name in self.people:
                self.people[name].setdefault("ids", {})["okta"] = login
        self.lists += [{"system": "okta", "id": x} for x in seeded.lists]
        self.say(f"  Okta:   fake on {fake.org_url}, leavers with sessions, grants and groups (one filled by a "
                 "group rule), a group to empty")

    # ---- the engagement

    def write(self) -> Path:
        page = self.workdir / "wiki" / "Customer-Offboarding-Checklist.md"
        page.parent.mkdir(parents=True, exist_ok=True)
        seed = resources.files("revoke.sandbox").joinpath("data/customer-offboarding-checklist.md")
        page.write_bytes(seed.read_bytes())
        make_wiki_clone(page.parent)
        people = [{"name": n, **v} for n, v in self.people.items() if v.get("ids") or "email" in v]
        runbook = {
            "engagement": "acme-2026",
            "final_day": dt.date.today().isoformat(),
            "checklist": "wiki/Customer-Offboarding-Checklist.md",
            "systems": self.systems,
            "people": people,
            "lists": self.lists,
            "protect": self.protect,
        }
        path = self.workdir / "acme-2026.yaml"
        header = "# The demo engagement: written by `revoke demo`, pointing at the local sandbox.\n"
        path.write_text(header + yaml.safe_dump(runbook, sort_keys=False), encoding="utf-8")
        env = self.workdir / ".env"
        env.write_text("".join(f"{k}={v}\n" for k, v in sorted(self.env.items())), encoding="utf-8")
        env.chmod(0o600)
        return path


def make_wiki_clone(wiki: Path) -> None:
    """The demo's wiki is a git repository of its own, as an Azure DevOps wiki clone is: its attachments go into
    `wiki/.attachments` (never into the root of a repository the demo folder happens to be in) and
    `revoke checklist mark ... --commit` commits there. Without git, an `.attachments` folder marks the root."""
    (wiki / ".attachments").mkdir(exist_ok=True)
    git = shutil.which("git")
    if git is None:
        return
    for args in (["init", "--quiet"], ["config", "user.name", "revoke demo"],
                 ["config", "user.email", "revoke-demo@localhost"]):
        subprocess.run([git, *args], cwd=wiki, capture_output=True, check=False)


def operator_steps(workdir: Path, runbook: str, say: Callable[[str], None],
                   revoke: Callable[[list[str]], int]) -> list[int]:
    """What an operator runs, in `workdir`: validate, plan (saved, checklist marked), apply, evidence verify.
    Answers the exit codes."""
    steps = [["validate", runbook], ["plan", runbook, "--out", "plan.json", "--mark-checklist"],
             ["apply", "plan.json"]]
    codes = []
    for args in steps:
        say(f"\n$ revoke {' '.join(args)}")
        codes.append(revoke(args))
        if codes[-1] not in (0, 2, 3):
            break
    runs = sorted((workdir / "evidence").glob("*-apply-*"))
    if runs and len(codes) == 3:
        say(f"\n$ revoke evidence verify {runs[-1].relative_to(workdir)}")
        codes.append(revoke(["evidence", "verify", str(runs[-1].relative_to(workdir))]))
        say(f"\nClosure report: {runs[-1] / 'closure-report.html'}")
        say(f"Updated checklist page: {workdir / 'wiki' / 'Customer-Offboarding-Checklist.md'}")
        say(f"Evidence: {runs[-1]}")
    return codes


def run_demo(workdir: Path, keep: bool, say: Callable[[str], None],
             revoke: Callable[[list[str]], int]) -> int:
    """Start the sandbox, run the operator's commands against it, tear it down (also on Ctrl-C)."""
    marker = workdir / ".revoke-demo"
    if workdir.exists() and any(workdir.iterdir()):
        if not marker.exists():
            say(f"{workdir} exists and is not a demo folder; choose another with --dir")
            return 1
        shutil.rmtree(workdir)  # a previous demo's folder: start clean
    workdir.mkdir(parents=True)
    marker.write_text("written by `revoke demo`; removed by the next demo run\n")
    sandbox = Sandbox(workdir, say)
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    cwd = Path.cwd()
    try:
        say("Starting the sandbox (loopback only):")
        sandbox.start()
        if not sandbox.systems:
            say("Nothing could start; see the lines above.")
            return 1
        runbook = sandbox.write()
        os.chdir(workdir)  # the runbook, its .env of generated secrets, evidence and the page all live here
        rel = runbook.name
        codes = operator_steps(workdir, rel, say, revoke)
        if keep:
            applied = sorted((workdir / "evidence").glob("*-apply-*"))
            say(f"\nThe sandbox keeps running. In another terminal:\n  cd {workdir}\n"
                f"  revoke plan {rel}        # the generated secrets are in .env there\n"
                + (f"  revoke restore {applied[-1].name} --yes   # undo the demo's apply\n" if applied else "") +
                "Edit the runbook to rehearse your own; press Ctrl-C here to stop the sandbox.")
            with contextlib.suppress(KeyboardInterrupt):
                threading.Event().wait()
        # apply's 3 is the demo working: the engagement holds things that need a person, by design
        expected = [0, 2, 3, 0] if len(codes) == 4 and codes[2] == 3 else [0, 2, 0, 0]
        return 0 if codes == expected else 1
    except KeyboardInterrupt:
        say("\nInterrupted; stopping the sandbox.")
        return 130
    finally:
        os.chdir(cwd)
        sandbox.stop()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)
