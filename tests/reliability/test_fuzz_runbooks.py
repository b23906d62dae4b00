"""Hypothesis-generated bad runbooks through `revoke validate` and `revoke plan`: always exit 1 with a message that
names the file and a line of it (FILE:LINE:), never a traceback or an "internal error".

Each example starts from a valid runbook and breaks it in one way a person (or a bad merge) would: a wrong type,
an unknown key, a duplicate person or id, an unknown connector, a bad date, a YAML syntax error, a duplicate key,
or bytes that are not a runbook at all.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from revoke.cli import cli

BASE: dict[str, Any] = {
    "engagement": "acme-2026",
    "final_day": "2026-11-30",
    "systems": {
        "corp-ldap": {"connector": "ldap", "settings": {
            "url": "ldaps://127.0.0.1:1", "bind_dn": "uid=revoke-svc,ou=services,dc=example,dc=org",
            "bind_password": {"secret": "corp_ldap"}, "base_dn": "dc=example,dc=org"}},
    },
    "people": [
        {"name": "Alice Example", "ids": {"corp-ldap": "alice"}},
        {"name": "Bob Example", "email": "bob@example.org", "ids": {"corp-ldap": "bob"}},
    ],
    "lists": [{"system": "corp-ldap", "id": "cn=acme-team,ou=lists,dc=example,dc=org"}],
    "protect": ["uid=admin,ou=people,dc=example,dc=org"],
}

FIELDS = [  # (path, what a valid value looks like): places where a wrong type or a bad value can go
    (("engagement",), "slug"), (("final_day",), "date"), (("systems",), "mapping"), (("people",), "list"),
    (("lists",), "list"), (("protect",), "list"), (("systems", "corp-ldap"), "mapping"),
    (("systems", "corp-ldap", "connector"), "name"), (("systems", "corp-ldap", "settings"), "mapping"),
    (("systems", "corp-ldap", "blast_radius"), "positive"), (("systems", "corp-ldap", "concurrency"), "positive"),
    (("systems", "corp-ldap", "settings", "url"), "text"), (("systems", "corp-ldap", "settings", "timeout"), "number"),
    (("systems", "corp-ldap", "settings", "start_tls"), "bool"),
    (("systems", "corp-ldap", "settings", "bind_password"), "secret"),
    (("people", 0), "mapping"), (("people", 0, "name"), "text"), (("people", 0, "ids"), "mapping"),
    (("people", 1, "ids", "corp-ldap"), "text"), (("lists", 0), "mapping"), (("lists", 0, "system"), "name"),
]

# values that are wrong for the kind of field named, whatever the generator picks
WRONG: dict[str, st.SearchStrategy[Any]] = {
    "slug": st.one_of(st.integers(), st.lists(st.text(max_size=3), max_size=2), st.just(""), st.just("acme 2026!"),
                      st.dictionaries(st.text(min_size=1, max_size=4), st.integers(), min_size=1, max_size=2)),
    "date": st.one_of(st.sampled_from(["2026-02-30", "2026-13-01", "next friday", "30/11/2026", "2026-11-31",
                                       "", "11-30", "2026-1-1x"]),
                      st.lists(st.integers(), max_size=2), st.booleans(), st.none()),
    "mapping": st.one_of(st.integers(), st.text(max_size=8), st.lists(st.integers(), min_size=1, max_size=3),
                         st.booleans(), st.none(), st.floats(allow_nan=False)),
    "list": st.one_of(st.integers(), st.text(min_size=1, max_size=8), st.booleans(), st.floats(allow_nan=False),
                      st.dictionaries(st.text(min_size=1, max_size=4), st.integers(), min_size=1, max_size=2)),
    "name": st.one_of(st.integers(), st.lists(st.integers(), min_size=1, max_size=2), st.none(),
                      st.dictionaries(st.text(min_size=1, max_size=4), st.integers(), min_size=1, max_size=2)),
    "positive": st.one_of(st.integers(max_value=0), st.text(alphabet="abcxyz!?", min_size=1, max_size=6),
                          st.lists(st.integers(), max_size=2), st.floats(min_value=1.1, max_value=9.9)),
    "text": st.one_of(st.lists(st.integers(), max_size=2), st.none(),
                      st.dictionaries(st.text(min_size=1, max_size=4), st.integers(), min_size=1, max_size=2)),
    "number": st.one_of(st.text(min_size=1, max_size=6).filter(lambda s: not _numeric(s)),
                        st.lists(st.integers(), max_size=2)),
    "bool": st.one_of(st.sampled_from(["maybe", "yes please", "2"]), st.lists(st.integers(), max_size=2),
                      st.integers(min_value=2)),
    "secret": st.one_of(st.text(max_size=12), st.integers(), st.just({"secret": "has space"}),
                        st.just({"secret": "x", "value": "hunter2"}), st.just({"name": "corp_ldap"})),
}
# not integers for dates: pydantic reads an integer as a Unix time, a valid date at midnight
KEY = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=10)
BAD_YAML = ["key: [unclosed", '"unterminated', "\tindented: with a tab", "- : : :", "*undefined_alias",
            "{a: 1, b", "a: b: c", "? [complex]\n: key", "&a &b twice", "%YAML 9.9", "foo: 'it''s\n  bad: ' x'"]


def _numeric(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target: Any = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value


def _dump(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


@st.composite
def wrong_type(draw: st.DrawFn) -> tuple[str, bytes]:
    path, kind = draw(st.sampled_from(FIELDS))
    doc = copy.deepcopy(BASE)
    _set(doc, path, draw(WRONG[kind]))
    return "wrong type at " + ".".join(map(str, path)), _dump(doc).encode()


@st.composite
def unknown_key(draw: st.DrawFn) -> tuple[str, bytes]:
    where = draw(st.sampled_from([(), ("systems", "corp-ldap"), ("systems", "corp-ldap", "settings"), ("people", 0),
                                  ("lists", 0), ("systems", "corp-ldap", "settings", "bind_password")]))
    doc = copy.deepcopy(BASE)
    target: Any = doc
    for part in where:
        target = target[part]
    key = draw(KEY.filter(lambda k: k not in target and k.strip() and k not in
                          {"checklist", "evidence_dir", "email", "close", "options", "start_tls", "insecure",
                           "ca_file", "tls_verify", "timeout", "people_base", "group_base", "user_filter",
                           "lock_method", "lock_attribute", "lock_value", "empty_group_member",
                           "blast_radius", "concurrency", "identify_by", "ids"}))
    target[key] = draw(st.one_of(st.integers(), st.text(max_size=5), st.booleans()))
    return f"unknown key {key!r} at {where}", _dump(doc).encode()


@st.composite
def duplicate_person(draw: st.DrawFn) -> tuple[str, bytes]:
    doc = copy.deepcopy(BASE)
    same_name = draw(st.booleans())
    twin = {"name": "Alice Example" if same_name else draw(st.text(min_size=1, max_size=8).filter(
        lambda n: n.strip() and n.casefold() not in ("alice example", "bob example"))),
        "ids": {"corp-ldap": draw(st.sampled_from(["alice", "ALICE", "bob"])) if not same_name else "alice2"}}
    doc["people"].insert(draw(st.integers(0, 2)), twin)
    return "duplicate person", _dump(doc).encode()


@st.composite
def unknown_connector(draw: st.DrawFn) -> tuple[str, bytes]:
    doc = copy.deepcopy(BASE)
    name = draw(st.text(min_size=1, max_size=12).filter(
        lambda n: n not in {"ldap", "active-directory", "aws-iam", "aws-identity-center", "entra", "m365-groups",
                            "slack"}))
    doc["systems"]["corp-ldap"]["connector"] = name
    return f"unknown connector {name!r}", _dump(doc).encode()


@st.composite
def unknown_system_reference(draw: st.DrawFn) -> tuple[str, bytes]:
    doc = copy.deepcopy(BASE)
    name = draw(st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True).filter(lambda n: n != "corp-ldap"))
    place = draw(st.sampled_from(["ids", "list", "protect"]))
    if place == "ids":
        doc["people"][0]["ids"][name] = "alice"
    elif place == "list":
        doc["lists"][0]["system"] = name
    else:
        doc["protect"].append({"id": "x", "system": name})
    return f"unknown system {name!r} in {place}", _dump(doc).encode()


@st.composite
def bad_date_text(draw: st.DrawFn) -> tuple[str, bytes]:
    # written by hand, unquoted, so that YAML's own timestamp parser sees it first
    date = draw(st.sampled_from(["2026-02-30", "2026-02-29", "2026-13-01", "2026-00-10", "2026-11-31",
                                 "2026-11-30T25:00:00", "0000-01-01", "2026-11-30 12:61:00"]))
    text = _dump(BASE).replace("final_day: '2026-11-30'", f"final_day: {date}")
    assert date in text
    return f"bad date {date}", text.encode()


@st.composite
def duplicate_key(draw: st.DrawFn) -> tuple[str, bytes]:
    lines = _dump(BASE).splitlines()
    keyed = [i for i, line in enumerate(lines) if re.match(r"^\s*[\w-]+:", line)]
    i = draw(st.sampled_from(keyed))
    lines.insert(i + 1, lines[i] if not lines[i].rstrip().endswith(":") else lines[i] + " {}")
    return f"duplicate key on line {i + 2}", ("\n".join(lines) + "\n").encode()


@st.composite
def yaml_syntax_error(draw: st.DrawFn) -> tuple[str, bytes]:
    lines = _dump(BASE).splitlines()
    at = draw(st.integers(0, len(lines)))
    bad = draw(st.sampled_from(BAD_YAML))
    lines.insert(at, bad)  # at column 0: indented, some would read as the continuation of a plain scalar
    return f"syntax error {bad!r} at line {at + 1}", ("\n".join(lines) + "\n").encode()


@st.composite
def damaged_bytes(draw: st.DrawFn) -> tuple[str, bytes]:
    data = bytearray(_dump(BASE).encode())
    for _ in range(draw(st.integers(1, 3))):
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] = draw(st.sampled_from([0x00, 0x01, 0x07, 0x1b, 0x7f, 0xff, 0xc3, 0x80, 0xfe]))
    return "damaged bytes", bytes(data)


@st.composite
def random_bytes(draw: st.DrawFn) -> tuple[str, bytes]:
    return "random bytes", draw(st.binary(min_size=0, max_size=200))


RUNBOOKS = st.one_of(wrong_type(), unknown_key(), duplicate_person(), unknown_connector(), unknown_system_reference(),
                     bad_date_text(), duplicate_key(), yaml_syntax_error(), damaged_bytes(), random_bytes())


def _check(path: Path, how: str, data: bytes, command: list[str]) -> None:
    result = CliRunner().invoke(cli, command + [str(path)], catch_exceptions=True,
                                env={"REVOKE_CORP_LDAP": "not-a-real-password"})
    shown = f"{how}\n--- {' '.join(command)} exit {result.exit_code}\n{result.output}{result.stderr}\n--- file:\n" \
            + data.decode("utf-8", "replace")
    assert result.exception is None or isinstance(result.exception, SystemExit), shown
    assert result.exit_code == 1, shown
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, shown
    lines = len(data.decode("utf-8", "replace").splitlines()) + 1  # YAML breaks lines at \r, NEL, LS, PS too
    located = [int(n) for n in re.findall(re.escape(str(path)) + r":(\d+): ", result.stderr)]
    assert located, "no FILE:LINE: in the message\n" + shown
    assert all(1 <= n <= lines for n in located), shown


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(case=RUNBOOKS)
@example(case=("bad date 2026-02-30", b"engagement: a\nfinal_day: 2026-02-30\nsystems: {}\npeople: []\n"))
@example(case=("control character", b"engagement: a\nfinal_day: 2026-01-01\n\x01\n"))
@example(case=("not utf-8", b"engagement: acme\n\xff\xfe\n"))
@example(case=("bad int tag", b"engagement: !!int x\n"))
@example(case=("empty", b""))
@example(case=("only a comment", b"# nothing here\n"))
@example(case=("a list", b"- a\n- b\n"))
def test_validate_locates_every_bad_runbook(tmp_path: Path, case: tuple[str, bytes]) -> None:
    how, data = case
    path = tmp_path / "runbook.yaml"
    path.write_bytes(data)
    _check(path, how, data, ["validate", "--offline"])


@FUZZ
@given(case=RUNBOOKS)
def test_plan_locates_every_bad_runbook_and_writes_nothing(tmp_path: Path, case: tuple[str, bytes]) -> None:
    how, data = case
    path = tmp_path / "runbook.yaml"
    path.write_bytes(data)
    _check(path, how, data, ["--quiet", "plan"])
    assert not (tmp_path / "evidence").exists(), "a plan of a bad runbook wrote evidence"


def test_the_base_runbook_is_valid(tmp_path: Path) -> None:
    """The fuzz cases break a runbook that is otherwise valid, so each failure is the mutation's."""
    path = tmp_path / "runbook.yaml"
    path.write_text(_dump(BASE))
    result = CliRunner().invoke(cli, ["validate", "--offline", str(path)])
    assert result.exit_code == 0, result.output + result.stderr
