"""What the user's commands decide, without a command line: which run `apply` continues or starts, and the exit
code of each outcome. The CLI (`revoke.cli`) only parses, asks, prints and exits with what this module answers,
so the policy is tested here, directly.

Exit codes (DESIGN.md): 0 nothing to do or success; 1 error; 2 `plan` found changes (like `terraform plan
-detailed-exitcode`); 3 `apply` finished with some actions failed or needing a person (the rest done).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from revoke.errors import RevokeError
from revoke.evidence import LOG
from revoke.plan import Plan, load_plan
from revoke.resume import resume_plan, unfinished_runs
from revoke.runbook import LoadedRunbook, load_runbook

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_INCOMPLETE = 3


@dataclass
class ApplyStart:
    """What `revoke apply SOURCE` carries out. With `resume`, an interrupted run is finished first (its own
    plan and mode, the same evidence chain); with `loaded` and no plan, the runbook is to be planned and shown;
    otherwise a saved plan is applied."""

    evidence_root: Path
    plan: Plan | None = None
    mode: str = "apply"
    resume: Path | None = None
    loaded: LoadedRunbook | None = None
    why: str = ""   # what to tell the user about a resumed run

    @property
    def needs_planning(self) -> bool:
        return self.plan is None


def start_apply(source: Path | None, *, resume_id: str | None = None,
                evidence_dir: Path | None = None) -> ApplyStart:
    """The run `apply` carries out. An explicit `--resume RUN_ID` wins; then an interrupted run of the same
    engagement (a crash must be finished before anything new starts, or the two would interleave); then the saved
    plan or the runbook given."""
    if resume_id:
        run_dir = find_run(resume_id, evidence_dir, source)
        resumed, mode = resume_plan(run_dir)
        return ApplyStart(run_dir.parent, resumed, mode, run_dir, why=f"Resuming {run_dir.name}.")
    if source is None:
        raise RevokeError("give a runbook or a saved plan, or --resume RUN_ID")
    loaded: LoadedRunbook | None = None
    plan: Plan | None = None
    if source.suffix == ".json":
        plan = load_plan(source)
        root = evidence_dir or (Path(plan.runbook_path).parent / plan.runbook.evidence_dir)
        engagement = plan.engagement
    else:
        loaded = load_runbook(source)
        root = evidence_dir or loaded.relative(loaded.runbook.evidence_dir)
        engagement = loaded.runbook.engagement
    interrupted = unfinished_runs(root, engagement)
    if interrupted:
        run_dir = interrupted[-1]
        resumed, mode = resume_plan(run_dir)
        return ApplyStart(root, resumed, mode, run_dir, why=f"Run {run_dir.name} was interrupted; finishing it "
                          "first (its own plan, same evidence chain).")
    return ApplyStart(root, plan, loaded=loaded)


def find_run(run_id: str, evidence_dir: Path | None, source: Path | None = None) -> Path:
    """A run folder from its id or path: under --evidence-dir, ./evidence, or the runbook's evidence folder."""
    candidate = Path(run_id)
    if (candidate / LOG).is_file():
        return candidate
    roots = [evidence_dir] if evidence_dir else [Path("evidence")]
    if source is not None and source.suffix != ".json":
        roots.append(source.parent / "evidence")
    for root in roots:
        if root and (root / run_id / LOG).is_file():
            return root / run_id
    raise RevokeError(f"no run '{run_id}' found (looked in {', '.join(str(r) for r in roots if r)}); "
                      "give the run folder's path or --evidence-dir")


def plan_exit_code(plan: Plan) -> int:
    """`revoke plan`: 1 when discovery failed somewhere (the plan is incomplete), 2 with changes, else 0."""
    if failed_systems(plan):
        return EXIT_ERROR
    return EXIT_CHANGES if plan.changes() else EXIT_OK


def failed_systems(plan: Plan) -> list[str]:
    return [s.name for s in plan.systems if s.error]


def waiting_for_a_person(plan: Plan) -> list[Any]:
    """What a plan with nothing to change still leaves to a person: error notices and final actions that need
    attention or failed."""
    return [n for n in plan.notices if n.severity == "error"] + [
        a for a in plan.actions if a.status == "final" and a.outcome in ("attention", "failed")]


def nothing_to_apply_exit_code(plan: Plan) -> int:
    """`revoke apply` of a runbook whose plan changes nothing: 3 when something still needs a person, else 0."""
    return EXIT_INCOMPLETE if waiting_for_a_person(plan) else EXIT_OK


def restore_dry_run_exit_code(plan: Plan) -> int:
    """`revoke restore` shown but not confirmed (no terminal, no --yes): 2 like a plan with changes."""
    return EXIT_CHANGES if plan.changes() else EXIT_OK


def validate_runbook(path: Path, *, offline: bool = False) -> Any:
    """`revoke validate`: the runbook, its connectors' settings, its secrets (unless offline) and its checklist
    page, every problem located; answers the runbook."""
    from revoke.errors import Problem, RunbookError
    from revoke.planner import check_runbook, load_secrets

    loaded = load_runbook(path)
    setups = check_runbook(loaded)
    if not offline:
        load_secrets(setups, runbook_dir=loaded.path.parent)
    rb = loaded.runbook
    if rb.checklist is not None:
        from revoke.checklist.record import check_checklist

        problems = check_checklist(rb.checklist, loaded.path.parent)
        if problems:
            line = loaded.doc.line_of(("checklist",))
            raise RunbookError([Problem(str(path), line, "checklist", p) for p in problems])
    return rb


def connector_rows() -> list[dict[str, str]]:
    """`revoke connectors`: every installed connector plugin, its package, version and action kinds."""
    from importlib.metadata import PackageNotFoundError

    from revoke.connector import installed

    rows = []
    for name, ep in sorted(installed().items()):
        dist = ep.dist.name if ep.dist else "?"
        try:
            cls = ep.load()
            kinds = ", ".join(k.name for k in cls.kinds)
            rows.append({"name": name, "package": dist, "version": getattr(cls, "version", "?"), "actions": kinds})
        except (ImportError, AttributeError, PackageNotFoundError) as e:
            rows.append({"name": name, "package": dist, "version": "?", "actions": f"cannot load: {e}"})
    return rows


def permission_documents(path: Path) -> dict[str, dict[str, str]]:
    """`revoke permissions`: per system, the least privilege its connector's action kinds declare."""
    from revoke.planner import check_runbook

    docs = {}
    for name, setup in check_runbook(load_runbook(path)).items():
        docs[name] = {"connector": setup.cls.name, "format": setup.cls.permission_format,
                      "document": setup.cls.permissions_document(setup.cls.kinds)}
    return docs
