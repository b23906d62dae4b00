"""One byte changed anywhere in a finished run folder is detected and located by `revoke evidence verify`; so is a
file deleted or added. The run folder comes from a real apply against slapd (evidence log with its seal, plan,
summary, closure reports, manifest)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner

from revoke.cli import cli
from revoke.evidence import LOG, MANIFEST, read_records, record_hash, verify_run
from revoke.sandbox.slapd import Slapd, unavailable_reason
from tests.conftest import ldap_system, write_runbook, yesterday, skip_unless_ci

POSITIONS_PER_FILE = 32


@pytest.fixture(scope="module")
def sealed_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A run folder as `revoke apply` leaves it, made once for the module; tests work on copies."""
    reason = unavailable_reason()
    if reason:
        skip_unless_ci(reason)
    folder = tmp_path_factory.mktemp("tamper")
    with Slapd(folder / "slapd") as slapd, pytest.MonkeyPatch.context() as mp:
        mp.setenv("REVOKE_CORP_LDAP", slapd.service.password)
        alice = slapd.add_user("alice", mail="alice@example.org")
        bob = slapd.add_user("bob")
        slapd.add_group("eng", [alice.dn, bob.dn])
        team = slapd.add_group("acme-team", [alice.dn], ou="lists", mail="acme-team@example.org")
        runbook = write_runbook(folder / "acme.yaml", {
            "engagement": "acme-2026", "final_day": yesterday(), "systems": {"corp-ldap": ldap_system(slapd)},
            "people": [{"name": "Alice Émile", "ids": {"corp-ldap": "alice"}},  # non-ASCII in the records too
                       {"name": "Bob Example", "ids": {"corp-ldap": "bob"}}],
            "lists": [{"system": "corp-ldap", "id": team}]})
        result = CliRunner().invoke(cli, ["--quiet", "--output", "json", "apply", str(runbook), "--yes"],
                                    catch_exceptions=False)
    assert result.exit_code == 0, result.output + result.stderr
    run_dir = Path(json.loads(result.output)["run_dir"])
    assert verify_run(run_dir).ok
    yield run_dir


@pytest.fixture
def run_copy(sealed_run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / sealed_run.name
    shutil.copytree(sealed_run, copy)
    return copy


def _files(run_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file())


def _positions(size: int) -> list[int]:
    if size <= POSITIONS_PER_FILE * 2:
        return list(range(size))
    step = size / POSITIONS_PER_FILE
    return sorted({0, 1, size // 2, size - 2, size - 1, *(int(i * step) for i in range(POSITIONS_PER_FILE))})


def _manifest_positions(data: bytes) -> list[int]:
    inner = {i for m in re.finditer(rb"[0-9a-f]{64}", data) for i in range(m.start() + 1, m.end() - 1)}
    return [i for i in range(len(data)) if i not in inner]


def _line_of(data: bytes, pos: int) -> int:
    return data.count(b"\n", 0, pos) + 1


def test_the_run_folder_holds_every_kind_of_file(sealed_run: Path) -> None:
    files = set(_files(sealed_run))
    assert {LOG, MANIFEST, "plan.json", "summary.md"} <= files
    assert any(f.startswith("closure-report") for f in files), files  # the reports are sealed too
    assert read_records(sealed_run)[-1]["type"] == "seal"


def test_one_byte_changed_anywhere_is_detected_and_located(run_copy: Path) -> None:
    missed: list[str] = []
    unlocated: list[str] = []
    checked = 0
    for rel in _files(run_copy):
        path = run_copy / rel
        original = path.read_bytes()
        # every byte of the manifest but the inner digits of its SHA-256 values, a spread of positions elsewhere
        positions = _manifest_positions(original) if rel == MANIFEST else _positions(len(original))
        for pos in positions:
            for flip in (0x01,) if rel != MANIFEST or pos % 2 else (0x01, 0x20):
                changed = bytearray(original)
                changed[pos] ^= flip
                path.write_bytes(bytes(changed))
                report = verify_run(run_copy)
                checked += 1
                where = f"{rel} byte {pos} ^0x{flip:02x}"
                if report.ok:
                    missed.append(where)
                    continue
                expected = f"{LOG} line {_line_of(original, pos)}" if rel == LOG else rel
                if not any(p.startswith(expected) or (rel == MANIFEST and "in the manifest but" in p)
                           for p in report.problems):  # a file name changed in the manifest: it names a missing file
                    unlocated.append(f"{where}: expected '{expected}' in {report.problems}")
        path.write_bytes(original)
    assert verify_run(run_copy).ok  # the copy is whole again: the checks above changed nothing else
    assert checked > 400
    assert not missed, f"{len(missed)} of {checked} one-byte changes were not detected: {missed[:20]}"
    assert not unlocated, "\n".join(unlocated[:20])


def test_verify_command_names_the_changed_file(run_copy: Path) -> None:
    for rel in _files(run_copy):
        path = run_copy / rel
        original = path.read_bytes()
        changed = bytearray(original)
        changed[len(changed) // 3] ^= 0x01
        path.write_bytes(bytes(changed))
        verdict = CliRunner().invoke(cli, ["evidence", "verify", str(run_copy)])
        path.write_bytes(original)
        assert verdict.exit_code == 1, (rel, verdict.output)
        assert "does NOT verify" in verdict.stderr and rel in verdict.stderr, (rel, verdict.stderr)
        assert "Traceback" not in verdict.stderr
    assert CliRunner().invoke(cli, ["evidence", "verify", str(run_copy)]).exit_code == 0


@pytest.mark.parametrize("victim", ["evidence.jsonl", "manifest.json", "plan.json", "summary.md",
                                    "closure-report.html"])
def test_a_deleted_file_is_detected(run_copy: Path, victim: str) -> None:
    (run_copy / victim).unlink()
    verdict = CliRunner().invoke(cli, ["evidence", "verify", str(run_copy)])
    assert verdict.exit_code == 1 and victim in verdict.stderr and "missing" in verdict.stderr, verdict.stderr


@pytest.mark.parametrize("extra", ["notes.txt", ".hidden", "attachments/screenshot.png", "closure-report.md.tmp",
                                   "manifest.json.tmp"])
def test_an_added_file_is_detected(run_copy: Path, extra: str) -> None:
    path = run_copy / extra
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"added after the run was sealed\n")
    verdict = CliRunner().invoke(cli, ["evidence", "verify", str(run_copy)])
    assert verdict.exit_code == 1, verdict.output
    assert f"{extra}: present but not in the manifest" in verdict.stderr, verdict.stderr


def test_records_removed_reordered_or_appended_are_detected(run_copy: Path) -> None:
    log = run_copy / LOG
    original = log.read_text(encoding="utf-8")
    lines = original.splitlines(keepends=True)

    log.write_text("".join(lines[:3] + lines[4:]), encoding="utf-8")   # a record taken out
    assert any(p.startswith(f"{LOG} line 4") for p in verify_run(run_copy).problems)
    log.write_text("".join(lines[:3] + [lines[4], lines[3]] + lines[5:]), encoding="utf-8")  # two swapped
    assert any(p.startswith(f"{LOG} line 4") for p in verify_run(run_copy).problems)
    log.write_text("".join(lines[:-1]), encoding="utf-8")   # the seal cut off
    assert not verify_run(run_copy).ok

    # a record appended after the seal with a correct hash chain: whoever wrote it knew the format
    last = json.loads(lines[-1])
    forged = {"seq": last["seq"] + 1, "time": last["time"], "run_id": last["run_id"],
              "engagement": last["engagement"], "type": "note", "text": "all fine", "prev_hash": last["hash"]}
    forged["hash"] = record_hash(forged)
    log.write_text(original + json.dumps(forged, sort_keys=True) + "\n", encoding="utf-8")
    problems = verify_run(run_copy).problems
    assert any("appended after the last seal" in p for p in problems), problems
