"""Durable runs on Temporal: `revoke schedule`, `revoke worker`, `revoke runs`.

revoke does not grow a scheduler or a cluster of its own. A scheduled run is a Temporal workflow (id = the run id,
so scheduling twice is harmless) that waits on a durable timer until the leave time, then runs the engine's own
check phase in one activity (the saved plan re-checked exactly as `revoke apply` checks it, every guardrail
re-derived live), the changes in shards of the engine's (system, rate scope) batches, one activity each with
heartbeats, and finally one activity that writes the run's evidence in the workflow's order, hash-chained and
sealed as a local apply's. Later stages (`stages:` in the runbook, e.g. delete accounts 30 days on) wait on their
own durable timers in the same workflow.

- `spec`: the plain values the workflow carries (no revoke imports, so the workflow sandbox stays small);
- `store`: the evidence store (a local folder or an S3 bucket) that holds the plan, the shards' records and the
  sealed run folders;
- `activities`: check, shard and journal, each a thin caller of `revoke.engine`;
- `workflow`: the order of things, the timers and the retry policies;
- `client` and `cli`: the commands.
"""
