"""The Google Workspace fake's routes: the Directory API (admin/directory/v1), the Groups Settings API
(groups/v1/groups) and the Chat API (v1/spaces), as their reference pages describe them where revoke depends on it.

Each route names the OAuth scopes that allow it (any one of them, as the discovery documents list them). Paging:
`maxResults`/`pageSize` capped by the fake's `page_cap`, `pageToken`/`nextPageToken`. Deleted things answer 404.
`suspensionReason` is output-only: a write that sends it is refused (400), so a client that does is caught.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from revoke.sandbox.google_state import GError, Group, User

if TYPE_CHECKING:
    from revoke.sandbox.google import GoogleFake

A = "https://www.googleapis.com/auth/"
USER_R = (A + "admin.directory.user", A + "admin.directory.user.readonly")
USER_W = (A + "admin.directory.user",)
SECURITY = (A + "admin.directory.user.security",)
GROUP_R = (A + "admin.directory.group", A + "admin.directory.group.readonly")
GROUP_W = (A + "admin.directory.group",)
MEMBER_R = GROUP_R + (A + "admin.directory.group.member", A + "admin.directory.group.member.readonly")
MEMBER_W = (A + "admin.directory.group", A + "admin.directory.group.member")
SETTINGS = (A + "apps.groups.settings",)
CHAT_R = (A + "chat.admin.memberships", A + "chat.admin.memberships.readonly")
CHAT_W = (A + "chat.admin.memberships",)
SPACES_R = (A + "chat.admin.spaces", A + "chat.admin.spaces.readonly")
MOBILE_R = (A + "admin.directory.device.mobile", A + "admin.directory.device.mobile.readonly")
MOBILE_W = (A + "admin.directory.device.mobile", A + "admin.directory.device.mobile.action")


@dataclass
class Ctx:
    fake: "GoogleFake"
    method: str
    path: str
    query: dict[str, str]
    body: Any
    match: re.Match[str]

    def arg(self, i: int) -> str:
        return self.match.group(i)


Handler = Callable[[Ctx], tuple[int, Any]]
ROUTES: list[tuple[str, re.Pattern[str], tuple[str, ...], Handler]] = []


def route(method: str, pattern: str, scopes: tuple[str, ...]) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        ROUTES.append((method, re.compile(f"^{pattern}$"), scopes, fn))
        return fn
    return register


D = "/admin/directory/v1"


def _user(ctx: Ctx, key: str) -> User:
    u = ctx.fake.user(key)
    if u is None:
        raise GError(404, "Resource Not Found: userKey", "notFound")
    return u


def _group(ctx: Ctx, key: str) -> Group:
    g = ctx.fake.group(key)
    if g is None:
        raise GError(404, "Resource Not Found: groupKey", "notFound")
    return g


def page(ctx: Ctx, items: list[Any], field: str, kind: str, size_param: str = "maxResults") -> dict[str, Any]:
    size = min(int(ctx.query.get(size_param) or 200), ctx.fake.page_cap)
    start = int(ctx.query.get("pageToken") or 0)
    body: dict[str, Any] = {"kind": kind, field: items[start:start + size]} if kind else {field: items[start:
                                                                                                   start + size]}
    if start + size < len(items):
        body["nextPageToken"] = str(start + size)
    return body


# ---- users
@route("GET", D + r"/users/([^/]+)", USER_R)
def get_user(ctx: Ctx) -> tuple[int, Any]:
    return 200, _user(ctx, ctx.arg(1)).resource()


@route("PATCH", D + r"/users/([^/]+)", USER_W)
def patch_user(ctx: Ctx) -> tuple[int, Any]:
    u = _user(ctx, ctx.arg(1))
    body = ctx.body or {}
    if "suspensionReason" in body:
        raise GError(400, "Invalid Input: suspensionReason is read-only", "invalid")
    if "suspended" in body:
        u.suspended = bool(body["suspended"])
        u.suspension_reason = "ADMIN" if u.suspended else None
    return 200, u.resource()


@route("POST", D + r"/users/([^/]+)/signOut", SECURITY)
def sign_out(ctx: Ctx) -> tuple[int, Any]:
    u = _user(ctx, ctx.arg(1))
    u.sessions = 0
    u.signed_out.append(ctx.fake.clock())
    return 204, None


@route("GET", D + r"/users/([^/]+)/verificationCodes", SECURITY)
def list_codes(ctx: Ctx) -> tuple[int, Any]:
    u = _user(ctx, ctx.arg(1))
    return 200, {"kind": "admin#directory#verificationCodesList", "items": [
        {"kind": "admin#directory#verificationCode", "userId": u.id, "verificationCode": c} for c in u.codes]}


@route("POST", D + r"/users/([^/]+)/verificationCodes/invalidate", SECURITY)
def invalidate_codes(ctx: Ctx) -> tuple[int, Any]:
    u = _user(ctx, ctx.arg(1))
    if u.suspended:   # Google changes nothing on a suspended account's 2-step verification
        raise GError(412, "User is suspended", "conditionNotMet")
    u.codes = []
    return 204, None


@route("GET", D + r"/users/([^/]+)/asps", SECURITY)
def list_asps(ctx: Ctx) -> tuple[int, Any]:
    u = _user(ctx, ctx.arg(1))
    return 200, {"kind": "admin#directory#asps", "items": [
        {"kind": "admin#directory#asp", "userKey": u.id, **a} for a in u.asps.values()]}


@route("DELETE", D + r"/users/([^/]+)/asps/(\d+)", SECURITY)
def delete_asp(ctx: Ctx) -> tuple[int, Any]:
    u = _user(ctx, ctx.arg(1))
    if u.asps.pop(int(ctx.arg(2)), None) is None:
        raise GError(404, "Resource Not Found: codeId", "notFound")
    return 204, None


@route("GET", D + r"/users/([^/]+)/tokens", SECURITY)
def list_tokens(ctx: Ctx) -> tuple[int, Any]:
    u = _user(ctx, ctx.arg(1))
    return 200, {"kind": "admin#directory#tokenList", "items": [
        {"kind": "admin#directory#token", "userKey": u.id, **t} for t in u.tokens.values()]}


@route("DELETE", D + r"/users/([^/]+)/tokens/([^/]+)", SECURITY)
def delete_token(ctx: Ctx) -> tuple[int, Any]:
    u = _user(ctx, ctx.arg(1))
    if u.tokens.pop(ctx.arg(2), None) is None:
        raise GError(404, "Resource Not Found: clientId", "notFound")
    return 204, None


# ---- mobile devices (the customer's; `query=email:ADDRESS` selects one user's)
def _device(ctx: Ctx, rid: str) -> dict[str, Any]:
    for u in ctx.fake.users.values():
        if rid in u.devices:
            return u.devices[rid]
    raise GError(404, "Resource Not Found: resourceId", "notFound")


@route("GET", D + r"/customer/([^/]+)/devices/mobile", MOBILE_R)
def list_devices(ctx: Ctx) -> tuple[int, Any]:
    query = ctx.query.get("query", "")
    email = query.removeprefix("email:").strip().casefold() if query.startswith("email:") else None
    found = [d for u in ctx.fake.users.values() for d in u.devices.values()
             if email is None or email in (e.casefold() for e in d["email"])]
    return 200, page(ctx, found, "mobiledevices", "admin#directory#mobiledevices")


@route("GET", D + r"/customer/([^/]+)/devices/mobile/([^/]+)", MOBILE_R)
def get_device(ctx: Ctx) -> tuple[int, Any]:
    return 200, _device(ctx, ctx.arg(2))


@route("POST", D + r"/customer/([^/]+)/devices/mobile/([^/]+)/action", MOBILE_W)
def device_action(ctx: Ctx) -> tuple[int, Any]:
    device = _device(ctx, ctx.arg(2))
    action = (ctx.body or {}).get("action")
    if action not in ("admin_account_wipe", "admin_remote_wipe", "approve", "block"):
        raise GError(400, "Invalid Input: action", "invalid")
    device["status"] = {"admin_account_wipe": "ACCOUNT_WIPING", "admin_remote_wipe": "WIPING",
                        "approve": "APPROVED", "block": "BLOCKED"}[action]
    return 204, None


# ---- groups and members
@route("GET", D + r"/groups", GROUP_R)
def list_groups(ctx: Ctx) -> tuple[int, Any]:
    key = ctx.query.get("userKey")
    groups = sorted(ctx.fake.groups.values(), key=lambda g: g.email)
    if key:
        u = _user(ctx, key)
        groups = [g for g in groups if u.id in g.members]
    return 200, page(ctx, [g.resource() for g in groups], "groups", "admin#directory#groups")


@route("GET", D + r"/groups/([^/]+)", GROUP_R)
def get_group(ctx: Ctx) -> tuple[int, Any]:
    return 200, _group(ctx, ctx.arg(1)).resource()


@route("DELETE", D + r"/groups/([^/]+)", GROUP_W)
def delete_group(ctx: Ctx) -> tuple[int, Any]:
    g = _group(ctx, ctx.arg(1))
    del ctx.fake.groups[g.id]
    return 204, None


def _member(g: Group, u: User) -> dict[str, Any]:
    return {"kind": "admin#directory#member", "id": u.id, "email": u.email, "role": g.members[u.id],
            "type": "USER", "status": "SUSPENDED" if u.suspended else "ACTIVE", "delivery_settings": "ALL_MAIL"}


@route("GET", D + r"/groups/([^/]+)/members", MEMBER_R)
def list_members(ctx: Ctx) -> tuple[int, Any]:
    g = _group(ctx, ctx.arg(1))
    return 200, page(ctx, [_member(g, ctx.fake.users[uid]) for uid in g.members], "members",
                     "admin#directory#members")


@route("GET", D + r"/groups/([^/]+)/members/([^/]+)", MEMBER_R)
def get_member(ctx: Ctx) -> tuple[int, Any]:
    g = _group(ctx, ctx.arg(1))
    u = ctx.fake.user(ctx.arg(2))
    if u is None or u.id not in g.members:
        raise GError(404, "Resource Not Found: memberKey", "notFound")
    return 200, _member(g, u)


@route("DELETE", D + r"/groups/([^/]+)/members/([^/]+)", MEMBER_W)
def delete_member(ctx: Ctx) -> tuple[int, Any]:
    g = _group(ctx, ctx.arg(1))
    u = ctx.fake.user(ctx.arg(2))
    if u is None or u.id not in g.members:
        raise GError(404, "Resource Not Found: memberKey", "notFound")
    del g.members[u.id]
    return 204, None


@route("POST", D + r"/groups/([^/]+)/members", MEMBER_W)
def insert_member(ctx: Ctx) -> tuple[int, Any]:
    g = _group(ctx, ctx.arg(1))
    body = ctx.body or {}
    u = ctx.fake.user(str(body.get("id") or body.get("email") or ""))
    if u is None:
        raise GError(404, "Resource Not Found: memberKey", "notFound")
    if u.id in g.members:
        raise GError(409, "Member already exists.", "duplicate")
    role = body.get("role") or "MEMBER"
    if role not in ("OWNER", "MANAGER", "MEMBER"):
        raise GError(400, "Invalid Input: role", "invalid")
    g.members[u.id] = role
    return 200, _member(g, u)


# ---- Groups Settings (by the group's email)
@route("GET", r"/groups/v1/groups/([^/]+)", SETTINGS)
def get_settings(ctx: Ctx) -> tuple[int, Any]:
    g = _group(ctx, ctx.arg(1))
    return 200, {"kind": "groupsSettings#groups", "email": g.email, "name": g.name, **g.settings}


@route("PATCH", r"/groups/v1/groups/([^/]+)", SETTINGS)
def patch_settings(ctx: Ctx) -> tuple[int, Any]:
    g = _group(ctx, ctx.arg(1))
    body = {k: str(v) for k, v in (ctx.body or {}).items()}
    if body.get("archiveOnly") == "true":   # documented: archive-only sets whoCanPostMessage to NONE_CAN_POST
        body["whoCanPostMessage"] = "NONE_CAN_POST"
    elif body.get("archiveOnly") == "false" and g.settings.get("archiveOnly") == "true":
        body.setdefault("whoCanPostMessage", "ALL_MANAGERS_CAN_POST")
    g.settings.update(body)
    return 200, {"kind": "groupsSettings#groups", "email": g.email, **g.settings}


# ---- Chat (administrator access only: the fake has no Chat app)
def _space(ctx: Ctx, name: str) -> Any:
    if ctx.query.get("useAdminAccess") != "true":
        raise GError(403, "This method requires useAdminAccess for a service account acting as an admin",
                     "forbidden")
    s = ctx.fake.spaces.get(name)
    if s is None:
        raise GError(404, f"Space {name} not found", "notFound")
    return s


def _membership(space: Any, uid: str) -> dict[str, Any]:
    return {"name": f"{space.name}/members/{uid}", "state": "JOINED", "role": space.members[uid],
            "member": {"name": f"users/{uid}", "type": "HUMAN"}}


@route("GET", r"/v1/(spaces/[^/]+)", SPACES_R)
def get_space(ctx: Ctx) -> tuple[int, Any]:
    s = _space(ctx, ctx.arg(1))
    return 200, {"name": s.name, "displayName": s.display, "spaceType": "SPACE"}


@route("GET", r"/v1/(spaces/[^/]+)/members", CHAT_R)
def list_space_members(ctx: Ctx) -> tuple[int, Any]:
    s = _space(ctx, ctx.arg(1))
    if ctx.query.get("filter", "").replace(" ", "") not in ('member.type="HUMAN"', 'member.type!="BOT"'):
        raise GError(400, 'With useAdminAccess, filter must select member.type = "HUMAN" (or != "BOT")', "invalid")
    return 200, page(ctx, [_membership(s, uid) for uid in s.members], "memberships", "", "pageSize")


@route("GET", r"/v1/(spaces/[^/]+)/members/([^/]+)", CHAT_R)
def get_space_member(ctx: Ctx) -> tuple[int, Any]:
    s = _space(ctx, ctx.arg(1))
    if ctx.arg(2) not in s.members:
        raise GError(404, "Membership not found", "notFound")
    return 200, _membership(s, ctx.arg(2))


@route("DELETE", r"/v1/(spaces/[^/]+)/members/([^/]+)", CHAT_W)
def delete_space_member(ctx: Ctx) -> tuple[int, Any]:
    s = _space(ctx, ctx.arg(1))
    if ctx.arg(2) not in s.members:
        raise GError(404, "Membership not found", "notFound")
    gone = _membership(s, ctx.arg(2))
    del s.members[ctx.arg(2)]
    return 200, gone


@route("POST", r"/v1/(spaces/[^/]+)/members", CHAT_W)
def create_space_member(ctx: Ctx) -> tuple[int, Any]:
    s = _space(ctx, ctx.arg(1))
    body = ctx.body or {}
    uid = str((body.get("member") or {}).get("name", "")).removeprefix("users/")
    if uid not in ctx.fake.users:
        raise GError(404, "User not found", "notFound")
    if uid in s.members:
        raise GError(409, "Membership already exists", "alreadyExists")
    s.members[uid] = "ROLE_MEMBER"   # documented: `role` is input only to UpdateMembership; a new member is a member
    return 200, _membership(s, uid)


@route("PATCH", r"/v1/(spaces/[^/]+)/members/([^/]+)", CHAT_W)
def update_space_member(ctx: Ctx) -> tuple[int, Any]:
    s = _space(ctx, ctx.arg(1))
    if ctx.arg(2) not in s.members:
        raise GError(404, "Membership not found", "notFound")
    if ctx.query.get("updateMask") != "role":
        raise GError(400, "updateMask must be role", "invalid")
    role = (ctx.body or {}).get("role")
    if role not in ("ROLE_MEMBER", "ROLE_MANAGER", "ROLE_ASSISTANT_MANAGER"):
        raise GError(400, "Invalid role", "invalid")
    s.members[ctx.arg(2)] = role
    return 200, _membership(s, ctx.arg(2))
