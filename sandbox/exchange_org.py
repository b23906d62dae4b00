"""The Exchange Online fake's organisation: recipients, list members, mailbox and recipient permissions, inbox rules,
and the cmdlets of `InvokeCommand` that revoke runs, carried out on them.

Behaviour taken from the cmdlets' documentation: `-Identity` takes any of a recipient's names (GUID, external
directory object id, alias, name, distinguished name, any SMTP address, UPN), case-insensitively, and an unknown one
fails with `ManagementObjectNotFoundException`; a write to a group synced from on-premises AD fails (its source of
authority is AD); removing a member or a permission that is not there, or adding one that is, is a warning, not an
error; `AcceptMessagesOnlyFromSendersOrMembers` lists senders by name, and an empty list means anyone may send.
"""

from __future__ import annotations

import re
import threading
import uuid
from typing import Any

from revoke.connectors.microsoft.exchange_cmdlets import CMDLETS, LIST_TYPES, MAILBOX_TYPES


class CmdletFailure(Exception):
    def __init__(self, status: int, exception: str, message: str):
        super().__init__(message)
        self.status, self.exception, self.message = status, exception, message


def _not_found(ident: str) -> CmdletFailure:
    return CmdletFailure(404, "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
                         f"The operation couldn't be performed because object '{ident}' couldn't be found on "
                         "'LOOPBACK01DC01.prod.outlook.com'.")


class Organization:
    def __init__(self, domain: str = "contoso.test"):
        self.lock = threading.RLock()
        self.domains = [domain]
        self.recipients: dict[str, dict[str, Any]] = {}       # Guid -> object
        self.members: dict[str, list[str]] = {}               # group Guid -> member Guids
        self.mailbox_permissions: dict[str, list[dict[str, Any]]] = {}  # mailbox Guid -> entries (User = Guid)
        self.send_as: dict[str, set[str]] = {}                # mailbox Guid -> trustee Guids
        self.inbox_rules: dict[str, list[dict[str, Any]]] = {}  # mailbox Guid -> rules
        self.writes = 0

    # ---- seeding -------------------------------------------------------------------------------------------
    def add(self, kind: str, name: str, address: str, **fields: Any) -> str:
        guid = str(uuid.uuid4())
        alias = address.split("@")[0]
        obj = {"Guid": guid, "ExternalDirectoryObjectId": fields.pop("external_id", None) or str(uuid.uuid4()),
               "Name": name, "DisplayName": name, "Alias": alias, "PrimarySmtpAddress": address,
               "EmailAddresses": [f"SMTP:{address}", *(f"smtp:{a}" for a in fields.pop("aliases", ()))],
               "RecipientTypeDetails": kind, "IsDirSynced": bool(fields.pop("synced", False)),
               "DistinguishedName": f"CN={alias},OU={self.domains[0]},OU=Microsoft Exchange Hosted Organizations,"
                                    "DC=LOOPBACK01,DC=PROD,DC=OUTLOOK,DC=COM",
               "HiddenFromAddressListsEnabled": False}
        if kind in LIST_TYPES:
            obj.update({"ManagedBy": [], "AcceptMessagesOnlyFromSendersOrMembers": [],
                        "RequireSenderAuthenticationEnabled": False})
            self.members[guid] = []
        if kind in MAILBOX_TYPES:
            obj.update({"UserPrincipalName": fields.pop("upn", address), "GrantSendOnBehalfTo": [],
                        "ForwardingSmtpAddress": None, "DeliverToMailboxAndForward": False})
            self.mailbox_permissions[guid] = [{"User": "NT AUTHORITY\\SELF", "AccessRights": ["FullAccess",
                                               "ReadPermission"], "IsInherited": False, "Deny": False}]
            self.send_as[guid] = set()
            self.inbox_rules[guid] = []
        obj.update(fields)
        with self.lock:
            self.recipients[guid] = obj
        return guid

    # ---- names ---------------------------------------------------------------------------------------------
    def names_of(self, obj: dict[str, Any]) -> set[str]:
        names = {obj["Guid"], obj["ExternalDirectoryObjectId"], obj["Alias"], obj["Name"], obj["DisplayName"],
                 obj["DistinguishedName"], obj["PrimarySmtpAddress"], obj.get("UserPrincipalName") or "",
                 *(a.split(":", 1)[1] for a in obj["EmailAddresses"])}
        return {n.casefold() for n in names if n}

    def find(self, ident: Any) -> dict[str, Any]:
        text = str(ident or "").strip()
        found = [o for o in self.recipients.values() if text.casefold() in self.names_of(o)]
        if not found:
            raise _not_found(text)
        if len(found) > 1:
            raise CmdletFailure(400, "Microsoft.Exchange.Configuration.Tasks.ManagementObjectAmbiguousException",
                                f"The operation couldn't be performed because '{text}' matches multiple entries.")
        return found[0]

    def _of_type(self, ident: Any, types: tuple[str, ...]) -> dict[str, Any]:
        obj = self.find(ident)
        if obj["RecipientTypeDetails"] not in types:
            raise _not_found(str(ident))  # Get-DistributionGroup of a mailbox: "couldn't be found"
        return obj

    def _writable(self, group: dict[str, Any], p: dict[str, Any]) -> None:
        if p.get("BypassSecurityGroupManagerCheck") is not True:
            # the app is never one of a list's owners (ManagedBy): without the bypass, Exchange refuses
            raise CmdletFailure(400, "Microsoft.Exchange.Configuration.Tasks.ManagementObjectPermissionException",
                                f"You don't have sufficient permissions. This operation can only be performed by a "
                                f"manager of the group '{group['Name']}'.")
        if group["IsDirSynced"]:
            raise CmdletFailure(400, "Microsoft.Exchange.Management.Tasks.TaskException",
                                f"The action 'Set-DistributionGroup', 'Identity', can't be performed on the object "
                                f"'{group['Name']}' because the object is being synchronized from your on-premises "
                                "organization. This action should be performed on the object in your on-premises "
                                "organization.")

    # ---- the cmdlets ---------------------------------------------------------------------------------------
    def run(self, cmdlet: str, params: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
        """(objects, warnings) of one cmdlet; raises CmdletFailure as the service would."""
        declared = CMDLETS.get(cmdlet)
        if declared is None:
            raise CmdletFailure(400, "System.Management.Automation.CommandNotFoundException",
                                f"The term '{cmdlet}' is not recognized as a name of a cmdlet.")
        unknown = sorted(set(params) - declared.parameters)
        if unknown:
            raise CmdletFailure(400, "System.Management.Automation.ParameterBindingException",
                                f"A parameter cannot be found that matches parameter name '{unknown[0]}'.")
        with self.lock:
            handler = getattr(self, "_" + cmdlet.replace("-", "_").lower())
            if declared.writes:
                self.writes += 1
            return handler(params)

    def _get_accepteddomain(self, p: dict[str, Any]) -> Any:
        return [{"DomainName": d, "DomainType": "Authoritative", "Default": i == 0}
                for i, d in enumerate(self.domains)], []

    def _get_recipient(self, p: dict[str, Any]) -> Any:
        return [dict(self.find(p.get("Identity")))], []

    def _get_distributiongroup(self, p: dict[str, Any]) -> Any:
        if "Identity" in p:
            return [dict(self._of_type(p["Identity"], LIST_TYPES))], []
        if "Filter" not in p:
            return [dict(o) for o in self.recipients.values() if o["RecipientTypeDetails"] in LIST_TYPES], []
        filt = re.fullmatch(r"Members -eq '(.+)'", str(p.get("Filter") or ""))
        if filt is None:
            raise CmdletFailure(400, "Microsoft.Exchange.Management.Tasks.InvalidFilterException",
                                f"Cannot bind parameter 'Filter': the fake knows only Members -eq '<DN>' "
                                f"(got {p.get('Filter')!r}).")
        member = next((o["Guid"] for o in self.recipients.values()
                       if o["DistinguishedName"].casefold() == filt.group(1).replace("''", "'").casefold()), None)
        return [dict(self.recipients[g]) for g, ms in self.members.items() if member in ms], []

    def _get_distributiongroupmember(self, p: dict[str, Any]) -> Any:
        group = self._of_type(p.get("Identity"), LIST_TYPES)
        return [dict(self.recipients[m]) for m in self.members[group["Guid"]]], []

    def _set_distributiongroup(self, p: dict[str, Any]) -> Any:
        group = self._of_type(p.get("Identity"), LIST_TYPES)
        self._writable(group, p)
        if "AcceptMessagesOnlyFromSendersOrMembers" in p:
            senders = p["AcceptMessagesOnlyFromSendersOrMembers"] or []
            group["AcceptMessagesOnlyFromSendersOrMembers"] = [self.find(s)["Name"] for s in senders]
        for key in ("RequireSenderAuthenticationEnabled", "HiddenFromAddressListsEnabled"):
            if key in p:
                group[key] = bool(p[key])
        return [], []

    def _remove_distributiongroup(self, p: dict[str, Any]) -> Any:
        group = self._of_type(p.get("Identity"), LIST_TYPES)
        self._writable(group, p)
        del self.recipients[group["Guid"]]
        del self.members[group["Guid"]]
        for ms in self.members.values():
            if group["Guid"] in ms:
                ms.remove(group["Guid"])
        return [], []

    def _member_change(self, p: dict[str, Any], add: bool) -> Any:
        group = self._of_type(p.get("Identity"), LIST_TYPES)
        self._writable(group, p)
        member = self.find(p.get("Member"))
        members = self.members[group["Guid"]]
        if add and member["Guid"] not in members:
            members.append(member["Guid"])
        elif not add and member["Guid"] in members:
            members.remove(member["Guid"])
        else:
            verb = "already a member of" if add else "not a member of"
            return [], [f"The recipient \"{member['Name']}\" is {verb} the group \"{group['Name']}\"."]
        return [], []

    def _add_distributiongroupmember(self, p: dict[str, Any]) -> Any:
        return self._member_change(p, add=True)

    def _remove_distributiongroupmember(self, p: dict[str, Any]) -> Any:
        return self._member_change(p, add=False)

    def _mailbox_out(self, mbx: dict[str, Any]) -> dict[str, Any]:
        out = dict(mbx)
        out["GrantSendOnBehalfTo"] = [self.recipients[g]["Name"] for g in mbx["GrantSendOnBehalfTo"]
                                      if g in self.recipients]
        return out

    def _get_mailbox(self, p: dict[str, Any]) -> Any:
        if "Identity" in p:
            return [self._mailbox_out(self._of_type(p["Identity"], MAILBOX_TYPES))], []
        wanted = p.get("RecipientTypeDetails") or list(MAILBOX_TYPES)
        wanted = [wanted] if isinstance(wanted, str) else wanted
        return [self._mailbox_out(o) for o in self.recipients.values() if o["RecipientTypeDetails"] in wanted], []

    def _set_mailbox(self, p: dict[str, Any]) -> Any:
        mbx = self._of_type(p.get("Identity"), MAILBOX_TYPES)
        if "GrantSendOnBehalfTo" in p:
            change = p["GrantSendOnBehalfTo"]
            if not isinstance(change, dict):
                raise CmdletFailure(400, "System.Management.Automation.ParameterBindingException",
                                    "The fake takes GrantSendOnBehalfTo only as @{Add=...} / @{Remove=...}.")
            for who in _many(change.get("Remove")):
                guid = self.find(who)["Guid"]
                if guid in mbx["GrantSendOnBehalfTo"]:
                    mbx["GrantSendOnBehalfTo"].remove(guid)
            for who in _many(change.get("Add")):
                guid = self.find(who)["Guid"]
                if guid not in mbx["GrantSendOnBehalfTo"]:
                    mbx["GrantSendOnBehalfTo"].append(guid)
        if "ForwardingSmtpAddress" in p:
            mbx["ForwardingSmtpAddress"] = f"smtp:{p['ForwardingSmtpAddress']}" if p["ForwardingSmtpAddress"] \
                else None
        if "DeliverToMailboxAndForward" in p:
            mbx["DeliverToMailboxAndForward"] = bool(p["DeliverToMailboxAndForward"])
        return [], []

    def _get_mailboxpermission(self, p: dict[str, Any]) -> Any:
        mbx = self._of_type(p.get("Identity"), MAILBOX_TYPES)
        out = []
        for e in self.mailbox_permissions[mbx["Guid"]]:
            user = self.recipients.get(e["User"], {}).get("UserPrincipalName") or e["User"]
            out.append({"Identity": mbx["Name"], **e, "User": user})
        return out, []

    def _permission_change(self, p: dict[str, Any], add: bool) -> Any:
        mbx = self._of_type(p.get("Identity"), MAILBOX_TYPES)
        user = self.find(p.get("User"))
        rights = set(_many(p.get("AccessRights")))
        entries = self.mailbox_permissions[mbx["Guid"]]
        mine = [e for e in entries if e["User"] == user["Guid"] and not e["IsInherited"] and not e["Deny"]]
        held = set().union(*(set(e["AccessRights"]) for e in mine)) if mine else set()
        if add:
            if rights <= held:
                return [], [f"An existing permission entry was found for user: {user['Name']}."]
            entries.append({"User": user["Guid"], "AccessRights": sorted(rights), "IsInherited": False,
                            "Deny": False})
            return [{"Identity": mbx["Name"], "User": user["UserPrincipalName"], "AccessRights": sorted(rights)}], []
        if not rights & held:
            return [], [f"The appropriate access control entry is already present on object \"{mbx['Name']}\" "
                        f"(no {', '.join(sorted(rights))} for {user['Name']} to remove)."]
        for e in mine:
            e["AccessRights"] = [r for r in e["AccessRights"] if r not in rights]
        self.mailbox_permissions[mbx["Guid"]] = [e for e in entries if e["AccessRights"]]
        return [], []

    def _add_mailboxpermission(self, p: dict[str, Any]) -> Any:
        return self._permission_change(p, add=True)

    def _remove_mailboxpermission(self, p: dict[str, Any]) -> Any:
        return self._permission_change(p, add=False)

    def _get_recipientpermission(self, p: dict[str, Any]) -> Any:
        boxes = [self._of_type(p["Identity"], MAILBOX_TYPES)] if "Identity" in p else \
            [self.recipients[g] for g in self.send_as]
        trustee = self.find(p["Trustee"])["Guid"] if "Trustee" in p else None
        out = []
        for mbx in boxes:
            for t in sorted(self.send_as[mbx["Guid"]]):
                if trustee is None or t == trustee:
                    out.append({"Identity": mbx["Name"], "Trustee": self.recipients[t].get("UserPrincipalName")
                                or self.recipients[t]["PrimarySmtpAddress"], "AccessRights": ["SendAs"],
                                "AccessControlType": "Allow", "IsInherited": False})
        return out, []

    def _send_as_change(self, p: dict[str, Any], add: bool) -> Any:
        mbx = self._of_type(p.get("Identity"), MAILBOX_TYPES)
        trustee = self.find(p.get("Trustee"))["Guid"]
        held = self.send_as[mbx["Guid"]]
        if (trustee in held) == add:
            return [], ["The appropriate access control entry is already " + ("present" if add else "absent") +
                        f" on object \"{mbx['Name']}\"."]
        (held.add if add else held.discard)(trustee)
        return [], []

    def _add_recipientpermission(self, p: dict[str, Any]) -> Any:
        return self._send_as_change(p, add=True)

    def _remove_recipientpermission(self, p: dict[str, Any]) -> Any:
        return self._send_as_change(p, add=False)

    def _get_inboxrule(self, p: dict[str, Any]) -> Any:
        mbx = self._of_type(p.get("Mailbox"), MAILBOX_TYPES)
        return [dict(r) for r in self.inbox_rules[mbx["Guid"]]], []

    def _rule(self, p: dict[str, Any]) -> dict[str, Any]:
        mbx = self._of_type(p.get("Mailbox"), MAILBOX_TYPES)
        for r in self.inbox_rules[mbx["Guid"]]:
            if str(p.get("Identity")).casefold() in (r["Identity"].casefold(), str(r["RuleIdentity"]), r["Name"]):
                return r
        raise _not_found(str(p.get("Identity")))

    def _disable_inboxrule(self, p: dict[str, Any]) -> Any:
        self._rule(p)["Enabled"] = False
        return [], []

    def _enable_inboxrule(self, p: dict[str, Any]) -> Any:
        self._rule(p)["Enabled"] = True
        return [], []


def _many(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]
