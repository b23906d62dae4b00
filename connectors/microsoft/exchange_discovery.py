"""What the `exchange-online` connector finds at plan time: the runbook's lists, the leavers' list memberships, the
mailbox access others gave them, and the forwarding they left in their own mailbox. Read-only."""

from __future__ import annotations

import re
from typing import Any, Sequence

from revoke.connector import Discovery, ListTarget, Notice, Step, Subject
from revoke.connectors.microsoft.exchange_client import CmdletError, ExchangeClient, require
from revoke.connectors.microsoft.exchange_cmdlets import (
    GROUP_FIELDS,
    INBOX_RULE_FIELDS,
    LIST_TYPES,
    M365_GROUP,
    MAILBOX_FIELDS,
    MAILBOX_PERMISSION_FIELDS,
    MAILBOX_TYPES,
    MEMBER_FIELDS,
    RECIPIENT_FIELDS,
    RECIPIENT_PERMISSION_FIELDS,
    SHARED_MAILBOX,
)
from revoke.connectors.microsoft.exchange_kinds import (
    DeleteList,
    DisableForwarding,
    DisableInboxRule,
    LockList,
    RemoveFullAccess,
    RemoveListMember,
    RemoveSendAs,
    RemoveSendOnBehalf,
)

CLOSE_MODES = ("lock", "delete", "remove-leavers")  # "default" is lock
SMTP = re.compile(r"\[SMTP:([^\]]+)\]", re.IGNORECASE)


def lock_state(group: dict[str, Any], sender_names: Sequence[str]) -> dict[str, Any]:
    accept = list(group["AcceptMessagesOnlyFromSendersOrMembers"] or [])
    same = sorted(n.casefold() for n in accept) == sorted(n.casefold() for n in sender_names)
    locked = (bool(sender_names) and same and group["RequireSenderAuthenticationEnabled"] is True
              and group["HiddenFromAddressListsEnabled"] is True)
    return {"AcceptMessagesOnlyFromSendersOrMembers": accept,
            "RequireSenderAuthenticationEnabled": group["RequireSenderAuthenticationEnabled"],
            "HiddenFromAddressListsEnabled": group["HiddenFromAddressListsEnabled"], "locked": locked}


def names(obj: dict[str, Any]) -> tuple[str, ...]:
    """Every name of a recipient the service accepts as -Identity, for protection and routing."""
    out = [obj.get("Guid"), obj.get("ExternalDirectoryObjectId"), obj.get("PrimarySmtpAddress"),
           obj.get("UserPrincipalName"), obj.get("Alias"), obj.get("DistinguishedName")]
    out += [a.split(":", 1)[1] for a in obj.get("EmailAddresses") or [] if str(a).casefold().startswith("smtp:")]
    return tuple(dict.fromkeys(str(x) for x in out if x))


class ExchangeDiscovery:
    def __init__(self, client: ExchangeClient, remember: Any):
        self.x = client
        self.remember = remember  # the connector's memory for identify: called with each recipient read

    def run(self, subjects: Sequence[Subject], lists: Sequence[ListTarget]) -> Discovery:
        out = Discovery()
        leavers = self._leavers(subjects, out)
        handled: set[tuple[str, str]] = set()  # (group Guid, leaver Guid) already planned from a runbook list
        closing: set[str] = set()              # groups deleted: their members go with them
        for lst in lists:
            self._list(lst, leavers, out, handled, closing)
        for subject, user in leavers.values():
            self._memberships(subject, user, out, handled, closing)
            self._own_mailbox(subject, user, out)
        self._mailbox_access(leavers, out)
        return out

    # ---- people ----------------------------------------------------------------------------------------------
    def _recipient(self, ident: str) -> dict[str, Any] | None:
        try:
            found = self.x.read("Get-Recipient", Identity=ident).values
        except CmdletError as err:
            if err.not_found:
                return None
            raise
        if len(found) != 1:
            raise CmdletError(f"Get-Recipient -Identity {ident!r}: {len(found)} objects answered for one identity",
                              exception="", status=200)
        obj = require(found[0], RECIPIENT_FIELDS, f"Get-Recipient -Identity {ident!r}")
        self.remember(obj)
        return obj

    def _leavers(self, subjects: Sequence[Subject], out: Discovery) -> dict[str, tuple[Subject, dict[str, Any]]]:
        found: dict[str, tuple[Subject, dict[str, Any]]] = {}
        for s in subjects:
            r = self._recipient(s.ident)
            if r is None:
                out.notices.append(Notice(f"no Exchange Online recipient '{s.ident}'", person=s.person))
                continue
            if r["RecipientTypeDetails"] in (*LIST_TYPES, M365_GROUP):
                out.notices.append(Notice(f"'{s.ident}' is a {r['RecipientTypeDetails']}, not a person's recipient",
                                          person=s.person))
                continue
            found[r["Guid"]] = (s, self._with_mailbox(r, f"leaver {s.ident}"))
        return found

    def _with_mailbox(self, r: dict[str, Any], what: str) -> dict[str, Any]:
        """A recipient with its mailbox's fields (forwarding, send-on-behalf, UPN) when it has a mailbox."""
        if r["RecipientTypeDetails"] not in MAILBOX_TYPES:
            return r
        return {**r, **self._mailbox(r["PrimarySmtpAddress"], what)}

    def _mailbox(self, ident: str, what: str) -> dict[str, Any]:
        got = self.x.read("Get-Mailbox", Identity=ident).values
        if len(got) != 1:
            raise CmdletError(f"Get-Mailbox -Identity {ident!r} ({what}): {len(got)} objects", exception="",
                              status=200)
        return require(got[0], MAILBOX_FIELDS, f"Get-Mailbox -Identity {ident!r}")

    # ---- lists -----------------------------------------------------------------------------------------------
    def _list(self, lst: ListTarget, leavers: dict[str, Any], out: Discovery, handled: set[tuple[str, str]],
              closing: set[str]) -> None:
        mode = "lock" if lst.close == "default" else lst.close
        if mode not in CLOSE_MODES:
            out.notices.append(Notice(f"list '{lst.ident}': unknown close mode '{lst.close}' (use one of default, "
                                      f"{', '.join(CLOSE_MODES)})", resource=lst.ident))
            return
        r = self._recipient(lst.ident)
        if r is None:
            out.notices.append(Notice(f"distribution list '{lst.ident}' not found in Exchange Online (deleted "
                                      "lists are not kept: if an earlier run deleted it, its evidence says so)",
                                      resource=lst.ident, severity="warning" if mode == "delete" else "error"))
            return
        if r["RecipientTypeDetails"] not in LIST_TYPES:
            hint = " (a Microsoft 365 group: close it with an m365-groups system)" if \
                r["RecipientTypeDetails"] == M365_GROUP else ""
            out.notices.append(Notice(f"'{lst.ident}' is a {r['RecipientTypeDetails']} "
                                      f"({r['PrimarySmtpAddress']}), not a distribution list or mail-enabled "
                                      f"security group{hint}: refused", resource=lst.ident, severity="refused"))
            return
        g = self._group(r["Guid"])
        label, aliases = g["Name"], names({**r, **g})
        if g["IsDirSynced"]:
            if mode == "remove-leavers":
                return  # the leavers' memberships are found below, and routed to AD like any synced list's
            out.steps.append(Step(kind=DeleteList.name if mode == "delete" else LockList.name, resource=g["Guid"],
                                  before={"exists": True} if mode == "delete" else lock_state(g, ()), needed=True,
                                  aliases=aliases, label=label, outcome="attention",
                                  note=f"'{label}' is synced from on-premises Active Directory: Exchange Online "
                                       "refuses to change it; close it in AD (an active-directory system's lists)"))
            return
        listed = self.x.read("Get-DistributionGroupMember", Identity=g["Guid"], ResultSize="Unlimited").values
        members = [require(m, MEMBER_FIELDS, f"Get-DistributionGroupMember -Identity {g['Guid']!r}") for m in listed]
        if mode == "delete":
            closing.add(g["Guid"])
            out.steps.append(Step(kind=DeleteList.name, resource=g["Guid"], needed=True, aliases=aliases, label=label,
                                  before={"exists": True},
                                  # what a person needs to recreate it: kept in the plan and the evidence
                                  params={"address": g["PrimarySmtpAddress"], "name": g["Name"],
                                          "members": [m["PrimarySmtpAddress"] for m in members],
                                          "ManagedBy": list(g["ManagedBy"] or []),
                                          "AcceptMessagesOnlyFromSendersOrMembers":
                                              list(g["AcceptMessagesOnlyFromSendersOrMembers"] or [])},
                                  note=f"not restorable: {DeleteList.restore_note}"))
            return
        if mode == "lock":
            out.steps.append(self._lock_step(lst, g, aliases, leavers))
        present = {m["Guid"] for m in members}
        for guid, (s, user) in leavers.items():
            handled.add((g["Guid"], guid))
            out.steps.append(self._member_step(g, s, user, guid in present))

    def _group(self, guid: str) -> dict[str, Any]:
        got = self.x.read("Get-DistributionGroup", Identity=guid).values
        if len(got) != 1:
            raise CmdletError(f"Get-DistributionGroup -Identity {guid!r}: {len(got)} objects", exception="",
                              status=200)
        return require(got[0], GROUP_FIELDS, f"Get-DistributionGroup -Identity {guid!r}")

    def _lock_step(self, lst: ListTarget, g: dict[str, Any], aliases: tuple[str, ...],
                   leavers: dict[str, Any]) -> Step:
        named = lst.options.get("senders")
        leaving = {u["Name"].casefold() for _, u in leavers.values()} | \
            {a.casefold() for _, u in leavers.values() for a in names(u)}
        if named is not None:
            senders = [self._recipient(str(n)) for n in named]
            unknown = [str(n) for n, r in zip(named, senders, strict=True) if r is None]
            sender_names = [r["Name"] for r in senders if r is not None]
        else:
            unknown, sender_names = [], [n for n in g["ManagedBy"] or [] if n.casefold() not in leaving]
        before = lock_state(g, sender_names)
        step = Step(kind=LockList.name, resource=g["Guid"], before=before, needed=not before["locked"],
                    aliases=aliases, label=g["Name"], params={"senders": sender_names},
                    note=f"only {', '.join(sender_names)} may send; hidden from the address lists" if sender_names
                    else "")
        if unknown or not sender_names:
            why = (f"options.senders names no recipient: {', '.join(unknown)}" if unknown else
                   "nobody is left to send to it (no owner stays and options.senders names none), and Exchange reads "
                   "an empty AcceptMessagesOnlyFromSendersOrMembers as 'anyone may send'")
            return Step(kind=LockList.name, resource=g["Guid"], before=before, needed=True, aliases=aliases,
                        label=g["Name"], outcome="attention",
                        note=f"cannot lock '{g['Name']}': {why}; name who may still send in the list's "
                             "options: {senders: [owner@...]}, or use close: delete")
        return step

    def _member_step(self, g: dict[str, Any], s: Subject, user: dict[str, Any], member: bool) -> Step:
        upn = user.get("UserPrincipalName") or user["PrimarySmtpAddress"]
        return Step(kind=RemoveListMember.name, resource=g["Guid"], principal=user["Guid"], person=s.person,
                    before={"member": member}, needed=member, aliases=(*names(g), *names(user)),
                    label=g["Name"], params={"member": upn, "address": g["PrimarySmtpAddress"]})

    def _memberships(self, s: Subject, user: dict[str, Any], out: Discovery, handled: set[tuple[str, str]],
                     closing: set[str]) -> None:
        dn = str(user["DistinguishedName"]).replace("'", "''")
        for g in self.x.read("Get-DistributionGroup", Filter=f"Members -eq '{dn}'", ResultSize="Unlimited").values:
            g = require(g, GROUP_FIELDS, f"Get-DistributionGroup -Filter (lists of {s.ident})")
            if g["Guid"] in closing or (g["Guid"], user["Guid"]) in handled:
                continue
            self.remember(g)
            handled.add((g["Guid"], user["Guid"]))
            step = self._member_step(g, s, user, True)
            if g["IsDirSynced"]:
                step = Step(**{**step.__dict__, "outcome": "attention",
                               "params": {**step.params, "route": "active-directory", "groupName": g["Name"],
                                          "userPrincipalName": step.params["member"]},
                               "note": f"'{g['Name']}' is synced from on-premises Active Directory: remove "
                                       f"{step.params['member']} from it in AD; Exchange Online refuses the change"})
            out.steps.append(step)

    # ---- the leaver's own mailbox: forwarding out -------------------------------------------------------------
    def _own_mailbox(self, s: Subject, user: dict[str, Any], out: Discovery) -> None:
        if user["RecipientTypeDetails"] not in MAILBOX_TYPES:
            return  # not a mailbox (a mail user): nothing forwards from it
        upn = user["UserPrincipalName"]
        forward = user["ForwardingSmtpAddress"]
        out.steps.append(Step(
            kind=DisableForwarding.name, resource=user["Guid"], person=s.person, needed=bool(forward),
            before={"forwarding": bool(forward), "ForwardingSmtpAddress": forward,
                    "DeliverToMailboxAndForward": user["DeliverToMailboxAndForward"]},
            aliases=names(user), label=upn, params={"mailbox": upn},
            note=f"mail was forwarded to {str(forward).split(':', 1)[-1]}" if forward else ""))
        domains = {d["DomainName"].casefold() for d in self._domains()}
        for rule in self.x.read("Get-InboxRule", Mailbox=upn).values:
            rule = require(rule, INBOX_RULE_FIELDS, f"Get-InboxRule -Mailbox {upn!r}")
            targets = [str(t) for f in ("ForwardTo", "ForwardAsAttachmentTo", "RedirectTo") for t in rule[f] or []]
            outside = [t for t in targets if not (m := SMTP.search(t)) or
                       m.group(1).rsplit("@", 1)[-1].casefold() not in domains]
            if not outside:
                continue
            out.steps.append(Step(
                kind=DisableInboxRule.name, resource=str(rule["Identity"]), principal=user["Guid"], person=s.person,
                before={"enabled": bool(rule["Enabled"])}, needed=bool(rule["Enabled"]), aliases=names(user),
                label=f"{upn}: {rule['Name']}", params={"mailbox": upn, "rule": str(rule["Identity"])},
                note="forwards or redirects outside the organisation: " + ", ".join(
                    (m.group(1) if (m := SMTP.search(t)) else t) for t in outside)))

    def _domains(self) -> list[dict[str, Any]]:
        if not hasattr(self, "_accepted"):
            self._accepted = [require(d, ("DomainName",), "Get-AcceptedDomain")
                              for d in self.x.read("Get-AcceptedDomain").values]
        return self._accepted

    # ---- access others gave the leavers ----------------------------------------------------------------------
    def _mailbox_access(self, leavers: dict[str, tuple[Subject, dict[str, Any]]], out: Discovery) -> None:
        if not leavers:
            return
        by_upn = {str(u.get("UserPrincipalName") or u["PrimarySmtpAddress"]).casefold(): (s, u)
                  for s, u in leavers.values()}
        by_name = {u["Name"].casefold(): (s, u) for s, u in leavers.values()}
        scope = self.x.settings.mailbox_scope
        boxes: list[dict[str, Any]] = []
        if scope != "none":
            kinds = {"RecipientTypeDetails": SHARED_MAILBOX} if scope == "shared" else {}
            boxes = [require(b, MAILBOX_FIELDS, "Get-Mailbox (mailboxes to search)")
                     for b in self.x.read("Get-Mailbox", ResultSize="Unlimited", **kinds).values]
        for box in boxes:
            if box["Guid"] in leavers:
                continue
            self.remember(box)
            for e in self.x.read("Get-MailboxPermission", Identity=box["UserPrincipalName"]).values:
                e = require(e, MAILBOX_PERMISSION_FIELDS,
                            f"Get-MailboxPermission -Identity {box['UserPrincipalName']!r}")
                who = by_upn.get(str(e["User"]).casefold())
                if who and "FullAccess" in (e["AccessRights"] or []) and not e["IsInherited"] and not e["Deny"]:
                    out.steps.append(self._grant(RemoveFullAccess.name, box, *who))
            for n in box["GrantSendOnBehalfTo"] or []:
                who = by_name.get(str(n).casefold()) or by_upn.get(str(n).casefold())
                if who:
                    out.steps.append(self._grant(RemoveSendOnBehalf.name, box, *who))
        for s, user in leavers.values():
            upn = user.get("UserPrincipalName") or user["PrimarySmtpAddress"]
            for e in self.x.read("Get-RecipientPermission", Trustee=upn, ResultSize="Unlimited").values:
                e = require(e, RECIPIENT_PERMISSION_FIELDS, f"Get-RecipientPermission -Trustee {upn!r}")
                if "SendAs" not in (e["AccessRights"] or []) or e["AccessControlType"] != "Allow" or e["IsInherited"]:
                    continue
                target = self._recipient(str(e["Identity"]))
                if target is None or target["Guid"] == user["Guid"] or \
                        target["RecipientTypeDetails"] not in MAILBOX_TYPES:
                    continue
                out.steps.append(self._grant(RemoveSendAs.name, self._with_mailbox(target, "SendAs target"), s,
                                             user))

    @staticmethod
    def _grant(kind: str, box: dict[str, Any], s: Subject, user: dict[str, Any]) -> Step:
        upn = user.get("UserPrincipalName") or user["PrimarySmtpAddress"]
        return Step(kind=kind, resource=box["Guid"], principal=user["Guid"], person=s.person,
                    before={"granted": True}, needed=True, aliases=(*names(box), *names(user)),
                    label=box["PrimarySmtpAddress"],
                    params={"mailbox": box["UserPrincipalName"], "member": upn, "memberName": user["Name"]})
