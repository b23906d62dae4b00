"""What the commands decide, apart from parsing and printing: which run `apply` carries out (a saved plan, a
runbook, or an interrupted run it must finish first), where a run folder is, and each command's exit code.

Exit codes: 0 done or nothing to do; 1 error (bad input, cannot connect, refused by a guardrail); 2 `plan` found
changes (and `restore` without --yes off a terminal showed them); 3 a run finished with actions failed, skipped as
stale or needing a person (the rest done), or nothing to do but items that need a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from revoke.errors import RevokeError
from revoke.evidence import LOG
from revoke.plan import Plan, load_plan
from revoke.resume import resume_plan, unfinished_runs
from revoke.runbook import LoadedRunbook, load_runbook

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_UNFINISHED = 0, 1, 2, 3


@dataclass
class ApplyJob:
    """The run `revoke apply` carries out. `plan` is None for a runbook still to be planned (from `loaded`)."""
    evidence_root: Path
    plan: Plan | None = None
    loaded: LoadedRunbook | None = None
    mode: str = "apply"
    resume: Path | None = None  # an interrupted run's folder, finished in the same evidence chain
    why: str = ""               # what to tell the user before it starts


def apply_job(source: Path | None, resume_id: str | None, evidence_dir: Path | None) -> ApplyJob:
    """`--resume RUN_ID` resumes that run; otherwise an interrupted run of the same engagement is finished first
    (its own plan), before a saved plan or a runbook is applied: a second run beside a half-done one could act on
    targets the first has already changed."""
    if resume_id:
        run_dir = find_run(resume_id, evidence_dir, source)
        plan, mode = resume_plan(run_dir)
        return ApplyJob(run_dir.parent, plan, mode=mode, resume=run_dir, why=f"Resuming {run_dir.name}.")
    if source is None:
        raise ValueError("apply needs a source or a run to resume")  # the CLI says so as a usage error first
    if source.suffix == ".json":
        saved = load_plan(source)
        job = ApplyJob(evidence_dir or (Path(saved.runbook_path).parent / saved.runbook.evidence_dir), saved)
        engagement = saved.engagement
    else:
        loaded = load_runbook(source)
        job = ApplyJob(evidence_dir or loaded.relative(loaded.runbook.evidence_dir), loaded=loaded)
        engagement = loaded.runbook.engagement
    interrupted = unfinished_runs(job.evidence_root, engagement)
    if interrupted:
        run_dir = interrupted[-1]
        plan, mode = resume_plan(run_dir)
        return ApplyJob(job.evidence_root, plan, mode=mode, resume=run_dir,
                        why=f"Run {run_dir.name} was interrupted; finishing it first (its own plan, same evidence "
                        "chain).")
    return job


def find_run(run_id: str, evidence_dir: Path | None, source: Path | None) -> Path:
    """A run folder from its path or its id (looked up in --evidence-dir, ./evidence, or beside the runbook)."""
    candidate = Path(run_id)
    if (candidate / LOG).is_file():
        return candidate
    roots = [evidence_dir] if evidence_dir else [Path("evidence")]
    if source is not None and source.suffix != ".json":
        roots.append(source.parent / "evidence")
    for root in roots:
        if (root / run_id / LOG).is_file():
            return root / run_id
    raise RevokeError(f"no run '{run_id}' found (looked in {', '.join(str(r) for r in roots)}); "
                      "give the run folder's path or --evidence-dir")


def plan_exit(plan: Plan) -> tuple[int, str]:
    """`revoke plan`'s exit code, and the error to print with it: an incomplete plan is an error even when it
    found changes (apply would miss what discovery could not see)."""
    failed = [s.name for s in plan.systems if s.error]
    if failed:
        return EXIT_ERROR, (f"discovery failed in {', '.join(failed)}: the plan is incomplete; fix the connection "
                            "and plan again")
    return (EXIT_CHANGES if plan.changes() else EXIT_OK), ""


def waiting_for_a_person(plan: Plan) -> int:
    """A plan without changes can still hold what only a person can do (an error notice, a final action that
    needs attention): how many, for `apply`'s "nothing to do" answer (exit 3 when any)."""
    return (sum(1 for n in plan.notices if n.severity == "error")
            + sum(1 for a in plan.actions if a.status == "final" and a.outcome in ("attention", "failed")))


def nothing_to_do_exit(plan: Plan) -> int:
    return EXIT_UNFINISHED if waiting_for_a_person(plan) else EXIT_OK
