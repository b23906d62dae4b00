"""The degraded-server mode (revoke.testing.degraded) for connectors on revoke's LDAP session (ldap, AD).

The servers are real (slapd, Samba), so their answers are degraded where they arrive, in `LdapSession.call`, the
one place every LDAP operation of these connectors goes through, as a directory would answer:

- `field-dropped A`: entries come back without attribute A, and a filter naming A matches nothing, which is what
  a directory does when an ACL hides A from the bind;
- `empty-200`: every search succeeds with no entry, base reads of existing entries included;
- `short-page`: a search answers sizeLimitExceeded with half its entries (a size limit on the server);
- `stale-once`: a search answers what it answered the first time, once, after the directory changed.

Writes are swallowed (answered success, nothing sent) except in `stale-once`.
"""

from __future__ import annotations

import contextlib
import copy
import re
from typing import Any, Iterator

from revoke.connectors.directory import session as ldap_session
from revoke.errors import ActionFailed

SIZE_LIMIT_EXCEEDED = 4


@contextlib.contextmanager
def degraded_ldap(degrader: Any) -> Iterator[None]:
    original = ldap_session.LdapSession.call

    def call(self: Any, what: str, fn: Any, *args: Any, ok: tuple[int, ...] = (ldap_session.SUCCESS,),
             **kwargs: Any) -> dict[str, Any]:
        if fn is not ldap_session._search:
            if degrader.swallow:
                return {"result": ldap_session.SUCCESS, "description": "success", "message": "", "entries": []}
            return original(self, what, fn, *args, ok=ok, **kwargs)
        base, flt = args[0], args[1]
        result = original(self, what, fn, *args, ok=ok, **kwargs)
        degraded = _degrade(degrader, f"{base}|{flt}|{args[3]!r}", flt, result)
        if degraded["result"] not in ok:
            raise ActionFailed(f"{what}: sizeLimitExceeded (result {degraded['result']})")
        return degraded

    ldap_session.LdapSession.call = call  # type: ignore[method-assign]
    try:
        yield
    finally:
        ldap_session.LdapSession.call = original  # type: ignore[method-assign]


def _degrade(degrader: Any, key: str, flt: str, result: dict[str, Any]) -> dict[str, Any]:
    entries = [e for e in result["entries"] if e.get("type") == "searchResEntry"]
    if degrader.mode == "field-dropped":
        names = {f.casefold() for f in degrader.fields}
        if any(re.search(rf"\(\s*{re.escape(n)}\s*[=~<>]", flt, re.IGNORECASE) for n in names):
            out = {**result, "entries": []}
        else:
            out = {**result, "entries": [_without(e, names) for e in result["entries"]]}
    elif degrader.mode == "empty-200":
        out = {**result, "result": ldap_session.SUCCESS, "entries": []}
    elif degrader.mode == "short-page":
        if len(entries) < 2:
            return result
        out = {**result, "result": SIZE_LIMIT_EXCEEDED, "entries": entries[:len(entries) // 2]}
    else:
        out = copy.deepcopy(degrader.answer(key, result))
    if out != result:
        degrader.cut()  # counts the answers changed, whatever the mode
    return out


def _without(entry: dict[str, Any], names: set[str]) -> dict[str, Any]:
    out = dict(entry)
    for part in ("attributes", "raw_attributes"):
        if isinstance(entry.get(part), dict):
            out[part] = {k: v for k, v in entry[part].items() if k.casefold() not in names}
    return out
