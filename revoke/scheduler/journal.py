"""The journal activity: one stage's records chained in the workflow's order into one run folder, sealed as a
local apply's, put in the store, and the checklist page marked.

A stage's waves are journalled in firing order: each wave's check records, then its shards' parts. What did not
get done is recorded too, never left out: a shard that never finished keeps what its checkpoints saved and its
other actions are recorded as not known to be done (applying the plan again re-reads and finishes them); an action
the run was cancelled before is recorded as not attempted; so is every change of a wave that never fired.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from temporalio import activity

from revoke import approvals, attest
from revoke.actions import Outcome, Verification
from revoke.connector import Receipt, load
from revoke.engine import finish_run
from revoke.errors import RevokeError
from revoke.evidence import EvidenceLog
from revoke.plan import Action
from revoke.run import RunResult, action_record
from revoke.scheduler.beat import beating, final
from revoke.scheduler.runs import CACHE, LoadedRun, part_prefix, read_part, stamped
from revoke.scheduler.spec import JOURNAL, JournalInput, Segment, StageDone
from revoke.scheduler.store import LocalStore, clear_dir, put_run
from revoke.scheduler.waves import wave_actions

CANCELLED = ("the run was cancelled (`revoke runs cancel`) before this change was attempted: nothing was written; "
             "apply the plan again to carry it out")


# a journal is never cut short: the run folder it seals is the evidence of what was done
@activity.defn(name=JOURNAL, no_thread_cancel_exception=True)
def journal(inp: JournalInput) -> StageDone:
    try:
        return beating(lambda: _journal(inp))
    except RevokeError as err:
        raise final(err) from None


def _journal(inp: JournalInput) -> StageDone:
    spec, loaded = inp.spec, CACHE.run(inp.spec)
    plan, rb, store = loaded.plan, loaded.rb, loaded.store
    run_id = inp.stage_run_id
    local = isinstance(store, LocalStore)
    scratch = None if local else tempfile.TemporaryDirectory(prefix="revoke-journal-")
    run_dir = store.path(run_id) if isinstance(store, LocalStore) else Path(scratch.name if scratch else "") / run_id
    try:
        clear_dir(run_dir)  # an earlier attempt that stopped half way: written again, whole, from the parts
        approved = approvals.require(plan)
        evidence = EvidenceLog(run_dir, run_id, rb.engagement, fsync=spec.fsync)
        from revoke.checklist.reports import ReportWriter

        writer = ReportWriter()
        result = RunResult(run_id=run_id, run_dir=run_dir, mode="apply")

        def write(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
            written = evidence.append_many(records) if records else []
            result.extend(written)
            writer.observe(written)
            return written

        waves: list[dict[str, Any]] = []
        try:
            plan.save(run_dir / "plan.json")
            approvals.keep(approved, plan.source_file, run_dir)
            for seg in inp.segments:
                waves.append(_segment(loaded, inp, seg, write))
            for index in inp.not_run:
                waves.append(_not_run(loaded, inp, index, write))
            # signed by the journalling worker's REVOKE_SIGNING_KEY, timestamped by the runbook's TSA, as a local apply
            finish_run(plan, rb, result, evidence, writer, attest.attestor(rb.timestamp_authority))
        finally:
            evidence.close()
        location = str(run_dir) if local else put_run(store, run_dir, run_id)
        line = _checklist(loaded, run_dir)
        return StageDone(inp.stage, run_id, location, result.counts(), result.exit_code, line, waves)
    finally:
        if scratch is not None:
            scratch.cleanup()


def _segment(loaded: LoadedRun, inp: JournalInput, seg: Segment, write: Any) -> dict[str, Any]:
    """One wave's records, in order; answers the wave as `revoke runs show` lists it, with its counts."""
    wave = inp.spec.waves[seg.wave]
    counts: Counter[str] = Counter()
    recorded: set[str] = set()

    def keep(records: list[dict[str, Any]]) -> None:
        for r in write(records):
            if r.get("type") == "action":
                counts[r["outcome"]] += 1
                recorded.add(r["action_id"])

    for key in [seg.header_part, *seg.parts]:
        keep(read_part(loaded.store, key))
    for shard in seg.lost:  # what its checkpoints saved, then the rest as not known to be done
        prefix = part_prefix(inp.spec.run_id, inp.stage_run_id) + f"w{seg.wave:03d}-shard{int(shard['index']):05d}-"
        for key in loaded.store.keys(prefix):
            keep([r for r in read_part(loaded.store, key) if r.get("action_id") not in recorded])
        why = (f"its shard did not finish ({shard['error']}): whether it was written is not known; apply the plan "
               "again to verify and finish it")
        keep(_unfinished(loaded, [i for i in shard["ids"] if i not in recorded], why, Outcome.FAILED))
    keep(_unfinished(loaded, [i for i in seg.cancelled if i not in recorded], CANCELLED, Outcome.NOT_ATTEMPTED))
    state = "cancelled" if seg.cancelled or inp.stopped == "cancelled" else "done"
    return {"wave": wave.index + 1, "fires_at": wave.fire_at, "people": wave.people, "lists": wave.lists,
            "state": state, "counts": dict(counts)}


def _not_run(loaded: LoadedRun, inp: JournalInput, index: int, write: Any) -> dict[str, Any]:
    """A wave that never fired: each of its changes is recorded as not attempted, and why."""
    wave = inp.spec.waves[index]
    why = CANCELLED if inp.stopped == "cancelled" else (
        f"not attempted: the run {inp.stopped}; nothing of this wave was written")
    changes = [a.id for a in wave_actions(loaded.plan, loaded.rb, wave) if a.status == "change"]
    written = write(_unfinished(loaded, changes, why, Outcome.NOT_ATTEMPTED))
    return {"wave": wave.index + 1, "fires_at": wave.fire_at, "people": wave.people, "lists": wave.lists,
            "state": "cancelled" if inp.stopped == "cancelled" else "not run",
            "counts": dict(Counter(r["outcome"] for r in written if r.get("type") == "action"))}


def _unfinished(loaded: LoadedRun, ids: list[str], why: str, outcome: Outcome) -> list[dict[str, Any]]:
    """Records of changes without an answer: `failed` when one may have been written (its shard was lost),
    `not_attempted` when none was (the run stopped before them)."""
    out = []
    for aid in ids:
        a: Action = loaded.by_id[aid]
        kind = load(a.connector).kind(a.kind)
        out.append(action_record(kind, None, a, "apply", outcome, Verification.NONE, receipt=Receipt(),
                                 error=why))
    return stamped(out)


def _checklist(loaded: LoadedRun, run_dir: Path) -> str:
    """The checklist page marked from the sealed run, as after a local apply; a failure is said, not raised."""
    if loaded.rb.checklist is None:
        return ""
    from revoke.checklist.record import record_run

    try:
        return record_run(loaded.rb.checklist, Path(loaded.plan.runbook_path).parent, run_dir, mark=True)
    except RevokeError as err:
        return f"checklist not updated: {err}"
