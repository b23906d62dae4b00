"""Talking to Temporal: the connection settings (secrets through pydantic-settings), scheduling a plan, running a
worker, and listing, showing and cancelling runs."""

from __future__ import annotations

import asyncio
import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from revoke.errors import RevokeError
from revoke.plan import Plan
from revoke.redaction import REDACTOR
from revoke.runbook import Runbook
from revoke.scheduler.spec import TASK_QUEUE, WORKFLOW, RunSpec, StageDone, StageSpec, seconds, utc_iso
from revoke.scheduler.store import SCHEDULED, EvidenceStore

# Temporal's Python client runs a Rust runtime whose threads can outlive the interpreter: a process that exits
# normally after using it may abort in finalisation ("PyGILState_Release", temporalio/sdk-python#300). The CLI
# leaves such a process with os._exit once its output is flushed (`revoke.cli.main`).
CONNECTED = False


def hard_exit(code: Any) -> None:
    import os
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))


class TemporalSettings(BaseSettings):
    """REVOKE_TEMPORAL_ADDRESS, _NAMESPACE, _TASK_QUEUE, _API_KEY, _TLS, _TLS_CA_FILE, _TLS_CERT_FILE,
    _TLS_KEY_FILE; in the environment, `.env`, or files of those names (lower case, without the prefix
    `REVOKE_`) in the secrets directory REVOKE_SECRETS_DIR. Temporal Cloud: the address, namespace and API key."""

    model_config = SettingsConfigDict(env_prefix="REVOKE_TEMPORAL_", env_file=".env", extra="ignore")

    address: str = "127.0.0.1:7233"
    namespace: str = "default"
    task_queue: str = TASK_QUEUE
    api_key: SecretStr | None = None
    tls: bool = False
    tls_ca_file: Path | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None


def settings(address: str | None = None, namespace: str | None = None, task_queue: str | None = None
             ) -> TemporalSettings:
    import os

    secrets_dir = os.environ.get("REVOKE_SECRETS_DIR")
    found = TemporalSettings(_secrets_dir=secrets_dir) if secrets_dir else TemporalSettings()  # type: ignore[call-arg]
    update = {k: v for k, v in (("address", address), ("namespace", namespace), ("task_queue", task_queue)) if v}
    found = found.model_copy(update=update)
    if found.api_key is not None:
        REDACTOR.add(found.api_key.get_secret_value())
    return found


async def connect(s: TemporalSettings) -> Any:
    global CONNECTED
    from temporalio.client import Client
    from temporalio.service import TLSConfig

    tls: Any = False
    if s.tls or s.tls_ca_file or s.tls_cert_file or s.api_key is not None:
        tls = TLSConfig(server_root_ca_cert=s.tls_ca_file.read_bytes() if s.tls_ca_file else None,
                        client_cert=s.tls_cert_file.read_bytes() if s.tls_cert_file else None,
                        client_private_key=s.tls_key_file.read_bytes() if s.tls_key_file else None)
    CONNECTED = True
    try:
        return await Client.connect(s.address, namespace=s.namespace, tls=tls,
                                    api_key=s.api_key.get_secret_value() if s.api_key else None)
    except Exception as err:  # noqa: BLE001 - the SDK's own errors (RuntimeError from the core), said once
        raise RevokeError(f"cannot connect to Temporal at {s.address} (namespace {s.namespace}): "
                          f"{REDACTOR(str(err))}; start a server or set REVOKE_TEMPORAL_ADDRESS") from None


def run_id_for(plan: Plan) -> str:
    """The workflow id: the same plan scheduled twice is the same run (Temporal refuses the second start)."""
    if "-plan-" in plan.plan_id:
        return plan.plan_id.replace("-plan-", "-scheduled-")
    return f"{plan.plan_id}-scheduled"


def store_plan(store: EvidenceStore, plan: Plan, plan_file: Path, run_id: str) -> None:
    """The plan file as it was saved (its digest and approvals are checked again at fire time)."""
    base = f"{SCHEDULED}/{run_id}"
    store.put(f"{base}/plan.json", plan_file.read_bytes())
    approvals = plan_file.with_name(plan_file.name + ".approvals")
    if approvals.is_dir():
        for f in sorted(approvals.iterdir()):
            if f.is_file():
                store.put(f"{base}/plan.json.approvals/{f.name}", f.read_bytes())


def run_spec(plan: Plan, rb: Runbook, store: EvidenceStore, at: dt.datetime | None, run_id: str,
             **options: Any) -> RunSpec:
    """The run as the workflow carries it: its stages, and its waves (one per stage and leave time; with `at`,
    one per stage for everyone)."""
    from revoke.scheduler.waves import waves_for

    stages = [StageSpec(0, 0.0, [], "final day")]
    stages += [StageSpec(i + 1, seconds(s.after), list(s.kinds), s.name or f"after {s.after}")
               for i, s in enumerate(rb.stages)]
    waves = waves_for(plan, rb, at)
    return RunSpec(run_id=run_id, store=store.url, plan_digest=plan.digest(), fire_at=waves[0].fire_at,
                   stages=stages, waves=waves, at=utc_iso(at) if at else "", engagement=plan.engagement,
                   **options)


async def start(s: TemporalSettings, spec: RunSpec) -> tuple[str, bool]:
    """Start the workflow; (its id, whether it was already scheduled). A run cancelled or failed may be
    scheduled again; one that completed may not (apply the plan again instead: nothing done is repeated)."""
    from temporalio.common import WorkflowIDReusePolicy
    from temporalio.exceptions import WorkflowAlreadyStartedError

    client = await connect(s)
    try:
        await client.start_workflow(WORKFLOW, spec, id=spec.run_id, task_queue=s.task_queue,
                                    id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                                    memo={"engagement": spec.engagement, "fire_at": spec.fire_at,
                                          "store": spec.store})
        return spec.run_id, False
    except WorkflowAlreadyStartedError:
        return spec.run_id, True


async def work(s: TemporalSettings, *, max_activities: int = 8, ready: Any = None) -> None:
    """Run a worker until interrupted: the workflow, and the activities with this machine's connectors and
    secrets. Activities run in threads (the engine's connectors are synchronous)."""
    from temporalio.worker import Worker

    from revoke.scheduler.activities import ACTIVITIES
    from revoke.scheduler.runs import CACHE
    from revoke.scheduler.workflow import RevokeRun

    client = await connect(s)
    _warm()
    with ThreadPoolExecutor(max_workers=max_activities, thread_name_prefix="activity") as pool:
        worker = Worker(client, task_queue=s.task_queue, workflows=[RevokeRun], activities=list(ACTIVITIES),  # type: ignore[arg-type]
                        activity_executor=pool, max_concurrent_activities=max_activities)
        try:
            if ready is not None:
                ready()
            await worker.run()
        finally:
            CACHE.close()


def _warm() -> None:
    """Import what activities use before polling: a worker is long-lived, and a cold first activity (the
    connectors' SDKs, the report writer) would otherwise cost each new worker seconds mid-run."""
    import logging

    from revoke.checklist import record, reports  # noqa: F401 - imported for their cost, now
    from revoke.connector import installed

    for name, ep in installed().items():
        try:
            ep.load()
        except Exception as err:  # noqa: BLE001 - a connector this machine lacks the extra for is not its job
            logging.getLogger("revoke.worker").info("connector %s not loaded: %s", name, err)


async def list_runs(s: TemporalSettings, limit: int = 50) -> list[dict[str, Any]]:
    client = await connect(s)
    out = []
    async for wf in client.list_workflows(f'WorkflowType="{WORKFLOW}"', limit=limit):
        memo = await wf.memo()
        out.append({"run_id": wf.id, "status": wf.status.name.lower() if wf.status else "?",
                    "engagement": memo.get("engagement"), "fire_at": memo.get("fire_at"),
                    "store": memo.get("store"), "started": utc_iso(wf.start_time)})
    return out


async def show_run(s: TemporalSettings, run_id: str) -> dict[str, Any]:
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError

    client = await connect(s)
    handle = client.get_workflow_handle(run_id, result_type=list[StageDone])
    try:
        desc = await handle.describe()
    except RPCError as err:
        raise RevokeError(f"no scheduled run '{run_id}' on {s.address} ({err.message}); `revoke runs list`") from None
    memo = await desc.memo()
    info: dict[str, Any] = {"run_id": run_id, "status": desc.status.name.lower() if desc.status else "?",
                            "engagement": memo.get("engagement"), "fire_at": memo.get("fire_at"),
                            "store": memo.get("store")}
    if desc.status == WorkflowExecutionStatus.RUNNING:
        info["progress"] = await handle.query("status")
        info["waves"] = info["progress"].get("waves", [])
    elif desc.status == WorkflowExecutionStatus.COMPLETED:
        info["stages"] = [vars(d) if isinstance(d, StageDone) else d for d in await handle.result()]
        info["waves"] = [w for st in info["stages"] for w in st.get("waves", [])]
    else:
        try:
            await handle.result()
        except Exception as err:  # noqa: BLE001 - the failure's message is what the user needs
            cause = err
            while getattr(cause, "cause", None) is not None:
                cause = cause.cause  # type: ignore[attr-defined]
            info["error"] = str(cause)
        # a run cancelled or stopped still sealed the stages it began: a worker answers the query from history
        try:
            state = await asyncio.wait_for(handle.query("status"), timeout=10)
            info.update(stages=state.get("stages", []), waves=state.get("waves", []))
        except Exception as err:  # noqa: BLE001 - no worker to answer: the error above is what is known
            info["stages_unknown"] = f"no worker answered ({type(err).__name__}): start `revoke worker` to see them"
    return info


async def cancel_run(s: TemporalSettings, run_id: str) -> None:
    client = await connect(s)
    await client.get_workflow_handle(run_id).cancel()


def run(coro: Any) -> Any:
    return asyncio.run(coro)

