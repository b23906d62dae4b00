"""The Slack fake's SCIM v2 `Users` resource (`/scim/v2/Users/<id>`: GET, PATCH `active`, DELETE), as Slack's SCIM
API documents it: the deactivation that ends a leaver's sessions. It needs a token with the `admin` scope; bots are
not SCIM users (404), and errors are SCIM `Error` messages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from revoke.sandbox.slack import SlackFake
    from revoke.sandbox.slack_model import Token, User


def answer(fake: "SlackFake", verb: str, user_id: str, grant: "Token | None", body: dict | None) -> tuple[int, dict]:
    """One SCIM request (the fake already locked): (HTTP status, SCIM body)."""
    if grant is None:
        return 401, scim_error(401, "invalid_authentication")
    if "admin" not in grant.scopes:
        return 403, scim_error(403, "missing_scope: admin")
    user = fake.users.get(user_id)
    if user is None or user.is_bot:
        return 404, scim_error(404, "User not found")
    if fake.degrader is not None and verb == "GET":
        return 200, fake.degrader.answer(f"scim/{user_id}", scim_user(user))
    if fake.degrader is not None and fake.degrader.swallow and verb != "GET":
        return (204, {}) if verb == "DELETE" else (200, scim_user(user))
    if verb == "PATCH":
        for op in (body or {}).get("Operations", []):
            value = op.get("value")
            if op.get("path") == "active":
                user.deleted = not bool(value)
            elif isinstance(value, dict) and "active" in value:
                user.deleted = not bool(value["active"])
    elif verb == "DELETE":
        user.deleted = True
        return 204, {}
    return 200, scim_user(user)


def scim_user(user: "User") -> dict[str, Any]:
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": user.id, "userName": user.name,
            "displayName": user.real_name, "active": not user.deleted,
            "emails": [{"value": user.email, "primary": True}] if user.email else []}


def scim_error(status: int, detail: str) -> dict[str, Any]:
    return {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": str(status), "detail": detail}
