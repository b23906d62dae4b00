"""Durable runs on Temporal: `revoke schedule`, `revoke worker`, `revoke runs`.

revoke does not grow a scheduler or a cluster of its own. A scheduled run is a Temporal workflow (id = the run id,
so scheduling twice is harmless) of waves, one per stage and leave time: each waits on a durable timer until its
people leave, then runs the engine's own check phase for them in one activity (the saved plan re-checked exactly
as `revoke apply` checks it, every guardrail re-derived live), the changes in shards of the engine's (system, rate
scope) batches, one activity each with heartbeats. After a stage's last wave one activity writes its evidence in
the workflow's order, hash-chained and sealed as a local apply's. Later stages (`stages:` in the runbook, e.g.
delete accounts 30 days on) count from each person's own leave time.

- `spec`: the plain values the workflow carries (no revoke imports, so the workflow sandbox stays small);
- `waves`: when each action fires (each person's leave time, a later stage after it, lists once all have left);
- `store`: the evidence store (a local folder or an S3 bucket) that holds the plan, the shards' records and the
  sealed run folders;
- `activities` and `journal`: check, shard and journal, each a thin caller of `revoke.engine`; `beat`: their
  heartbeats;
- `workflow`: the order of things, the timers and the retry policies;
- `client` and `cli`: the commands.
"""
