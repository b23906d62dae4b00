"""Exchange Online benchmark: L distribution lists x P leavers against the InvokeCommand fake's rate limit.

Every list holds every leaver and one owner who stays; the runbook locks each list (`close: default`), so apply
writes L locks and L x P member removals, and reads each list back. The fake answers 429 + Retry-After past R
cmdlets a second (a token bucket of one second). Figures come from the fake's own call log. Two floors:
- counted: the cmdlets the service accepted from revoke's apply, / R (what the limit allows for what revoke sent:
  check phase, writes, read-backs); the target is wall <= 1.2x this floor, as for the other benchmarks;
- raw: the least a client could send to do the same job and verify it (per list: one Set-DistributionGroup, P
  Remove-DistributionGroupMember, one Get-DistributionGroup and one Get-DistributionGroupMember), / R.
revoke's wall time includes its start-up, loading the plan and the evidence, as a user's does.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from bench.common import Row, check, ratio, revoke, run_measured, write_runbook
from revoke.sandbox.exchange import ExchangeFake
from revoke.sandbox.graph import GraphFake


def _seed(exo: ExchangeFake, lists: int, leavers: int) -> tuple[list[dict], list[dict], list[str]]:
    owner = exo.add_mailbox("owner@contoso.test", "Owner")
    people, guids = [], []
    for i in range(leavers):
        upn = f"leaver{i:03d}@contoso.test"
        guids.append(exo.add_mailbox(upn, f"Leaver {i}"))
        people.append({"name": f"Leaver {i}", "ids": {"exo": upn}})
    listed, dls = [], []
    for n in range(lists):
        address = f"list{n:04d}@contoso.test"
        dls.append(exo.add_list(f"List {n}", address, members=(owner, *guids), owners=(owner,)))
        listed.append({"system": "exo", "id": address})
    return people, listed, dls


def bench_exchange(root: Path, lists: int, leavers: int, rate: int) -> list[Row]:
    work = root / f"exchange-{lists}x{leavers}"
    work.mkdir(parents=True, exist_ok=True)
    graph = GraphFake().start()
    exo = ExchangeFake(graph).start()
    try:
        client_id, secret = graph.add_app()
        exo.grant(client_id)
        people, listed, dls = _seed(exo, lists, leavers)
        system = {"connector": "exchange-online", "blast_radius": lists * leavers + lists + 10, "concurrency": 4,
                  "settings": {"tenant_id": graph.tenant_id, "client_id": client_id,
                               "client_secret": {"secret": "exo_secret"}, "authority_host": graph.authority,
                               "base_url": exo.base_url, "ca_file": graph.ca_file, "instance_discovery": False,
                               "mailbox_scope": "none"}}
        runbook = write_runbook(work / "bench.yaml", f"bench-exchange-{lists}", {"exo": system}, people)
        doc = yaml.safe_load(runbook.read_text(encoding="utf-8"))
        doc["lists"] = listed
        runbook.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        env = {"REVOKE_EXO_SECRET": secret}
        exo.rate_limit(rate)
        plan_file = work / "plan.json"
        start = len(exo.calls)
        plan = run_measured(revoke("--quiet", "plan", str(runbook), "--out", str(plan_file)), env=env)
        check(plan.code == 2, "revoke plan (exchange-online)", plan)
        plan_stats = _stats(exo, start)
        start = len(exo.calls)
        apply_ = run_measured(revoke("--quiet", "apply", str(plan_file)), env=env)
        check(apply_.code == 0, "revoke apply (exchange-online)", apply_)
        stats = _stats(exo, start)
        left = sum(len(exo.members(g)) - 1 for g in dls)
        locked = sum(1 for g in dls if (exo.recipient(g) or {}).get("AcceptMessagesOnlyFromSendersOrMembers") ==
                     ["Owner"])
        check(left == 0 and locked == lists, f"exchange end state ({left} memberships left, {locked} locked)", apply_)
    finally:
        exo.stop()
        graph.stop()
        shutil.rmtree(work, ignore_errors=True)
    name = f"7 Exchange Online ({lists} lists x {leavers} leavers, R={rate} cmdlets/s)"
    floor = stats["counted"] / rate
    raw_floor = lists * (leavers + 3) / rate
    return [
        Row(name, "apply cmdlets accepted / writes / throttled answers",
            f"{stats['counted']} / {stats['writes']} / {stats['throttled']}"),
        Row(name, "apply wall", f"{apply_.seconds:.2f} s = {ratio(apply_.seconds, floor):.2f}x floor {floor:.2f} s "
            "(accepted / R)", "<= 1.2x floor", apply_.seconds <= 1.2 * floor),
        Row(name, "apply wall against the raw floor", f"{ratio(apply_.seconds, raw_floor):.2f}x raw floor "
            f"{raw_floor:.2f} s ({lists * (leavers + 3)} cmdlets: the job's writes and one read of each list's "
            "state and members)"),
        Row(name, "apply time talking to Exchange (first to last call)",
            f"{stats['span']:.2f} s = {ratio(stats['span'], floor):.2f}x floor"),
        Row(name, "plan wall / cmdlets accepted", f"{plan.seconds:.2f} s / {plan_stats['counted']} "
            f"({ratio(plan.seconds, plan_stats['counted'] / rate):.2f}x their floor)"),
        Row(name, "apply peak memory", f"{apply_.peak_mb:.0f} MB"),
    ]


def _stats(exo: ExchangeFake, start: int) -> dict[str, float]:
    from revoke.connectors.microsoft.exchange_cmdlets import CMDLETS

    log = exo.calls[start:]
    counted = [c for c in log if c.status != 429]
    writes = [c for c in counted if CMDLETS.get(c.cmdlet) and CMDLETS[c.cmdlet].writes]
    return {"counted": len(counted), "writes": len(writes), "throttled": sum(1 for c in log if c.status == 429),
            "span": (max(c.at for c in log) - min(c.at for c in log)) if log else 0.0}
