"""AD's wire formats, checked without a server: objectSid and objectGUID decoding, FILETIME, and range retrieval of
large `member` attributes, which Samba does not reproduce (it answers every value at once, under `member`).

The ranged answers below follow MS-ADTS 3.1.1.3.1.3.3: past MaxValRange values a search for `member` returns
`member;range=0-<MaxValRange-1>`, and the last range asked for comes back as `member;range=<low>-*`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from revoke.connectors.directory.ad_directory import (AdDirectory, filetime, from_filetime, guid_dn, guid_filter, is_dn, parent_dn, rdn,
                                   sid_str)
from revoke.errors import ActionFailed


class RangedServer:
    """Answers base searches of one group the way AD does, with a small MaxValRange."""

    def __init__(self, members: list[str], max_val_range: int):
        self.members = members
        self.max = max_val_range
        self.asked: list[list[str]] = []
        self.gone = False

    def answer(self, low: int, high: int | None) -> dict[str, Any]:
        end = len(self.members) if high is None else min(high + 1, len(self.members))
        end = min(end, low + self.max)
        last = end >= len(self.members)
        name = f"member;range={low}-{'*' if last else end - 1}"
        return {"type": "searchResEntry", "dn": "CN=big,DC=corp,DC=example,DC=org",
                "raw_attributes": {name: [m.encode() for m in self.members[low:end]]}}

    def search(self, what: str, base: str, flt: str, attributes: list[str], *, scope: str = "SUBTREE",
               ok: tuple[int, ...] = (0,)) -> dict[str, Any]:
        self.asked.append(list(attributes))
        if self.gone:
            return {"result": 32, "entries": []}
        (attr,) = attributes
        low, _, high = attr.split("=", 1)[1].partition("-")
        return {"result": 0, "entries": [self.answer(int(low), None if high == "*" else int(high))]}


@pytest.mark.parametrize("count", [7, 9, 3, 2])
def test_members_past_max_val_range_are_read_range_by_range(count: int) -> None:
    members = [f"CN=m{i},CN=Users,DC=corp,DC=example,DC=org" for i in range(count)]
    server = RangedServer(members, max_val_range=3)
    directory = AdDirectory(server, "DC=corp,DC=example,DC=org")  # type: ignore[arg-type]
    server_first = {"result": 0, "entries": [server.answer(0, None)]}
    group = directory.objects(server_first)[0]
    assert directory.members(group) == members
    expected_requests = max(0, (count - 1) // 3)
    assert len(server.asked) == expected_requests
    assert [a[0] for a in server.asked] == [f"member;range={3 * (i + 1)}-*" for i in range(expected_requests)]


def test_a_group_that_disappears_mid_read_is_an_error_not_a_short_list() -> None:
    members = [f"CN=m{i},DC=corp" for i in range(5)]
    server = RangedServer(members, max_val_range=2)
    directory = AdDirectory(server, "DC=corp")  # type: ignore[arg-type]
    group = directory.objects({"result": 0, "entries": [server.answer(0, None)]})[0]
    server.gone = True
    with pytest.raises(ActionFailed, match="disappeared"):
        directory.members(group)


def test_sid_and_guid_wire_forms() -> None:
    raw_sid = bytes([1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0]) + b"".join(
        n.to_bytes(4, "little") for n in (1603718164, 601364335, 3204203334, 513))
    assert sid_str(raw_sid) == "S-1-5-21-1603718164-601364335-3204203334-513"
    guid = uuid.UUID("e2e60404-1484-4356-8c91-df8cbd6cc675")
    assert guid_filter(str(guid)) == "".join(f"\\{b:02x}" for b in guid.bytes_le)
    assert guid_filter(str(guid)).startswith("\\04\\04\\e6\\e2")  # the first three fields are little-endian
    assert guid_dn(str(guid)) == f"<GUID={guid}>"


def test_filetime_round_trip_and_never() -> None:
    when = dt.datetime(2026, 11, 25, 1, 30, tzinfo=dt.timezone.utc)
    assert from_filetime(filetime(when)) == when
    assert filetime(dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) == 116444736000000000
    assert from_filetime("0") is None and from_filetime(str(2 ** 63 - 1)) is None


def test_dn_helpers_respect_escaped_commas() -> None:
    dn = r"CN=Leaver\, Alice,OU=Disabled Users,DC=corp,DC=example,DC=org"
    assert rdn(dn) == r"CN=Leaver\, Alice"
    assert parent_dn(dn) == "OU=Disabled Users,DC=corp,DC=example,DC=org"
    assert is_dn(dn) and not is_dn("alice@corp.example.org") and not is_dn("CORP\\alice")
