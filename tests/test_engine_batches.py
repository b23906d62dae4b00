"""How the engine cuts a system's changes into batches for its workers. With a connector's `rate_scope` (aws-iam:
the account), a batch stays within one scope and the batches take turns across scopes, so workers running side by
side act in different accounts, each throttled on its own, instead of all in the first one."""

from __future__ import annotations

from revoke.connectors.aws.iam import AwsIamConnector
from revoke.execute import batches as _batches
from revoke.plan import Action


def _action(n: int, account: str) -> Action:
    return Action(id=f"a{n}", system="aws", connector="aws-iam", kind="tag-user", item=3, resource=f"u{n}",
                  params={"account": account, "user": f"u{n}"}, before={}, fingerprint="-", status="change")


def _plan_order(counts: dict[str, int]) -> list[Action]:
    """Changes as a plan lists them: account after account."""
    out: list[Action] = []
    for account, count in counts.items():
        for _ in range(count):
            out.append(_action(len(out), account))
    return out


def test_without_a_scope_batches_are_plan_order_slices() -> None:
    changes = _plan_order({"111": 5, "222": 3})
    batches = _batches(changes, 3, None)
    assert [[a.id for a in b] for b in batches] == [["a0", "a1", "a2"], ["a3", "a4", "a5"], ["a6", "a7"]]


def test_with_a_scope_batches_stay_in_one_account_and_take_turns() -> None:
    changes = _plan_order({"111": 7, "222": 3, "333": 4})
    batches = _batches(changes, 3, "account")
    accounts = [{a.params["account"] for a in b} for b in batches]
    assert all(len(s) == 1 for s in accounts)  # never two accounts in one batch
    assert [s.pop() for s in accounts] == ["111", "222", "333", "111", "333", "111"]
    # every change exactly once, and each account's changes still in plan order
    flat = [a.id for b in batches for a in b]
    assert sorted(flat) == sorted(a.id for a in changes) and len(flat) == len(changes)
    for account in ("111", "222", "333"):
        mine = [a for a in flat if changes[int(a[1:])].params["account"] == account]
        assert mine == [a.id for a in changes if a.params["account"] == account]
    assert [len(b) for b in batches] == [3, 3, 3, 3, 1, 1]


def test_the_first_workers_start_in_different_accounts() -> None:
    # 30 accounts of 200 changes, batches of 40 (aws-iam's figures in bench/): the first 8 batches, which 8 workers
    # take first, are in 8 accounts; plain slices would have put them all in the first two
    changes = _plan_order({f"{n:012d}": 200 for n in range(30)})
    first = _batches(changes, AwsIamConnector.batch_size, AwsIamConnector.rate_scope)[:8]
    assert len({b[0].params["account"] for b in first}) == 8
    plain = _batches(changes, AwsIamConnector.batch_size, None)[:8]
    assert len({a.params["account"] for b in plain for a in b}) == 2
