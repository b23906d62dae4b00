"""The `github` connector's action kinds and the permission document `revoke permissions` prints for them.

Permissions are declared in three families: `app:<scope>:<permission>:<level>` (a GitHub App's, or a fine-grained
token's, permission), `scope:<name>` (a classic personal access token's OAuth scope) and `role:<text>` (who the
credential must belong to). `permissions_document` groups them the way GitHub's settings pages do.
"""

from __future__ import annotations

from typing import Sequence

from revoke.actions import ACCESS, LISTS, ActionKind

OWNER = "role:an owner of each organisation (a token's user; a GitHub App is installed by one)"


class RevokeSsoAuthorization(ActionKind):
    name = "revoke-sso-authorization"
    summary = "revoke the SAML SSO authorization of"
    done_summary = "SSO authorization already revoked:"
    item = ACCESS
    permissions = ("scope:admin:org", "role:an organisation owner's own token (apps cannot: owner_token)")
    desired = {"authorized": False}
    restorable = False
    restore_note = ("the person must authorize the token or SSH key for the organisation again; GitHub has no API "
                    "that re-authorizes a credential")


class RemoveFromOrganization(ActionKind):
    name = "remove-from-organization"
    summary = "remove from organization"
    done_summary = "not in organization"
    item = ACCESS
    permissions = ("app:organization:members:write", "scope:admin:org", OWNER)
    desired = {"member": False}
    restore_note = ("GitHub cannot add anyone to an organisation silently: restore re-invites the person with their "
                    "former role and teams, and the membership reads back as a pending invitation until they "
                    "accept (revoke counts the invitation as restored); team maintainers come back as members")


class CancelOrgInvitation(ActionKind):
    name = "cancel-org-invitation"
    summary = "cancel the pending invitation to"
    done_summary = "no pending invitation to"
    item = ACCESS
    permissions = ("app:organization:members:write", "scope:admin:org", OWNER)
    desired = {"invited": False}
    restore_note = "restore sends a new invitation (a new email, a new expiry)"


class RemoveFromRepository(ActionKind):
    name = "remove-from-repository"
    summary = "remove from repository"
    done_summary = "no direct access to repository"
    item = ACCESS
    permissions = ("app:repository:administration:write", "scope:repo")
    desired = {"collaborator": False}
    restore_note = ("restore re-invites the person with their former permission: it reads back as a pending "
                    "invitation until they accept (counted as restored)")


class ArchiveRepository(ActionKind):
    name = "archive-repository"
    summary = "archive"
    done_summary = "already archived:"
    item = LISTS
    permissions = ("app:repository:administration:write", "scope:repo")
    desired = {"exists": True, "archived": True}
    resource_types = ("repository",)
    restore_note = "restore unarchives the repository"


class DeleteTeam(ActionKind):
    name = "delete-team"
    summary = "delete team"
    done_summary = "team already deleted:"
    item = LISTS
    permissions = ("app:organization:members:write", "scope:admin:org", OWNER)
    desired = {"exists": False}
    resource_types = ("team",)
    restore_note = ("restore re-creates the team from the plan (name, description, privacy, parent, members and "
                    "maintainers, repository permissions); lost for good: its id and node id (links, webhooks and "
                    "integrations naming the old team), discussions, IdP group synchronisation, code review "
                    "settings, its child teams (deleted with it) and any change made after the plan")


KINDS = (RevokeSsoAuthorization, RemoveFromOrganization, CancelOrgInvitation, RemoveFromRepository, ArchiveRepository,
         DeleteTeam)
READ_PERMISSIONS = ("app:organization:members:read", "app:repository:administration:read",
                    "app:repository:metadata:read", "scope:read:org", "scope:repo")
LEVEL = {"read": "read-only", "write": "read and write"}


def permissions_document(read: Sequence[str], kinds: Sequence[type[ActionKind]]) -> str:
    wanted = sorted(set(read).union(*(k.permissions for k in kinds)))
    app: dict[tuple[str, str], str] = {}
    for p in wanted:
        if p.startswith("app:"):
            _, scope, name, level = p.split(":")
            if app.get((scope, name)) != "write":
                app[(scope, name)] = level
    lines = ["GitHub App installed in each organisation, or fine-grained personal access token (resource owner: the "
             "organisation), permissions:"]
    lines += [f"- {scope.title()} permissions > {name.title()}: {LEVEL[level]}"
              for (scope, name), level in sorted(app.items())]
    lines.append("Or a personal access token (classic) with the scopes:")
    lines += [f"- {p.split(':', 1)[1]}" for p in wanted if p.startswith("scope:")]
    roles = [p.split(":", 1)[1] for p in wanted if p.startswith("role:")]
    if roles:
        lines.append("Held by:")
        lines += [f"- {r}" for r in roles]
    if RevokeSsoAuthorization in kinds:
        lines.append("SAML SSO credential authorizations (GitHub Enterprise Cloud) are listed and revoked only with "
                     "an organisation owner's token: with a GitHub App, give owner_token as well")
    return "\n".join(lines)
