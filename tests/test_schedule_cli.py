"""`revoke schedule`'s times and the runbook's stages: what a user types, and the located errors for mistakes."""

from __future__ import annotations

import datetime as dt

import click
import pytest

from revoke.scheduler.cli import parse_when
from revoke.scheduler.spec import seconds
from tests.conftest import write_runbook, yesterday

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(("text", "utc"), [
    ("2026-12-05 17:00 Europe/Berlin", "2026-12-05T16:00:00+00:00"),
    ("2026-07-05 17:00 Europe/Berlin", "2026-07-05T15:00:00+00:00"),   # summer time
    ("2026-12-05T17:00:00+01:00", "2026-12-05T16:00:00+00:00"),
    ("2026-12-05 17:00 UTC", "2026-12-05T17:00:00+00:00"),
    ("+90s", "2026-12-02T12:01:30+00:00"),
    ("+2h", "2026-12-02T14:00:00+00:00"),
    ("now", "2026-12-02T12:00:00+00:00"),
])
def test_times_a_user_writes(text: str, utc: str) -> None:
    assert parse_when(text, NOW).astimezone(dt.timezone.utc).isoformat() == utc


@pytest.mark.parametrize(("text", "says"), [
    ("2026-12-05 17:00", "say which time zone"),
    ("2026-12-05 17:00 Mars/Olympus", "unknown time zone"),
    ("friday at five", "is not a time"),
])
def test_a_time_without_a_zone_or_unreadable_is_refused(text: str, says: str) -> None:
    with pytest.raises(click.BadParameter, match=says):
        parse_when(text, NOW)


def test_durations() -> None:
    assert seconds("30d") == 30 * 86400 and seconds("12h") == 43200 and seconds("90s") == 90
    with pytest.raises(ValueError, match="not a duration"):
        seconds("30 days")


def test_stages_are_validated_with_their_line(tmp_path, run_cli) -> None:  # noqa: F811
    base = {"engagement": "acme-2026", "final_day": yesterday(),
            "systems": {"aws": {"connector": "aws-iam", "settings": {}}},
            "people": [{"name": "Ann", "ids": {"aws": "ann"}}]}
    bad = write_runbook(tmp_path / "a.yaml", {**base, "stages": [{"after": "30 days", "kinds": ["delete-account"]}]})
    out = run_cli("validate", "--offline", str(bad))
    assert out.exit_code == 1 and "stages" in out.stderr and "after" in out.stderr
    twice = write_runbook(tmp_path / "b.yaml", {**base, "stages": [{"after": "1d", "kinds": ["delete-account"]},
                                                                    {"after": "2d", "kinds": ["delete-account"]}]})
    out = run_cli("validate", "--offline", str(twice))
    assert out.exit_code == 1 and "already in stages[0]" in out.stderr


def _world(*people: tuple[str, str | None], stages: list[object] | None = None,
           lists: bool = False) -> tuple[object, object]:
    from types import SimpleNamespace as NS

    rb = NS(final_day=dt.date(2026, 12, 4), cutoff=dt.time(17, 0), timezone="Europe/Berlin", stages=stages or [],
            people=[NS(name=n, leaves_at=dt.datetime.fromisoformat(t) if t else None) for n, t in people])
    actions = [NS(person=n, kind=k, id=f"{n}-{k}", status="change") for n, _ in people
               for k in ("lock-account", "delete-account")]
    actions += [NS(person=None, kind="close-list", id="list", status="change")] if lists else []
    return NS(actions=actions), rb


def _fires(waves) -> list[tuple[int, str, list[str], bool]]:  # noqa: ANN001
    return [(w.stage, w.fire_at, w.people, w.lists) for w in waves]


def test_without_at_each_person_fires_at_their_own_leave_time() -> None:
    from revoke.scheduler.waves import waves_for

    plan, rb = _world(("Alice", None), ("Bob", None))  # final_day at the runbook's cutoff in its zone
    assert _fires(waves_for(plan, rb)) == [(0, "2026-12-04T16:00:00+00:00", ["Alice", "Bob"], False)]
    plan, rb = _world(("Alice", "2026-12-05T09:00:00+00:00"), ("Bob", "2026-12-05T10:00:00+01:00"))
    assert _fires(waves_for(plan, rb)) == [(0, "2026-12-05T09:00:00+00:00", ["Alice", "Bob"], False)]  # one instant
    plan, rb = _world(("Alice", None), ("Bob", "2026-12-06T12:00:00+00:00"), lists=True)
    # lists close once everyone has left: nobody still working loses a list early
    assert _fires(waves_for(plan, rb)) == [(0, "2026-12-04T16:00:00+00:00", ["Alice"], False),
                                           (0, "2026-12-06T12:00:00+00:00", ["Bob"], True)]
    assert [w.last_of_stage for w in waves_for(plan, rb)] == [False, True]


def test_a_later_stage_counts_from_each_persons_own_leave_time_and_at_overrides_for_everyone() -> None:
    from types import SimpleNamespace as NS

    from revoke.scheduler.waves import waves_for

    stages = [NS(after="30d", kinds=["delete-account"])]
    plan, rb = _world(("Alice", "2026-12-04T09:00:00+00:00"), ("Bob", "2026-12-06T12:00:00+00:00"), stages=stages)
    assert _fires(waves_for(plan, rb)) == [
        (0, "2026-12-04T09:00:00+00:00", ["Alice"], False), (0, "2026-12-06T12:00:00+00:00", ["Bob"], False),
        (1, "2027-01-03T09:00:00+00:00", ["Alice"], False), (1, "2027-01-05T12:00:00+00:00", ["Bob"], False)]
    at = dt.datetime(2026, 12, 5, 17, 0, tzinfo=dt.timezone.utc)
    assert _fires(waves_for(plan, rb, at)) == [(0, "2026-12-05T17:00:00+00:00", ["Alice", "Bob"], False),
                                               (1, "2027-01-04T17:00:00+00:00", ["Alice", "Bob"], False)]


def test_a_wave_that_would_fire_before_the_final_day_is_refused_when_scheduled() -> None:
    from types import SimpleNamespace as NS

    from revoke.scheduler.cli import _refuse_before_final_day
    from revoke.scheduler.waves import waves_for

    plan, rb = _world(("Alice", "2026-12-03T09:00:00+00:00"), ("Bob", None))  # Alice leaves a day early
    spec = NS(waves=waves_for(plan, rb))
    with pytest.raises(click.UsageError, match="before the final day .*Alice at 2026-12-03T09:00:00"):
        _refuse_before_final_day(spec, rb)
    plan, rb = _world(("Bob", None))
    _refuse_before_final_day(NS(waves=waves_for(plan, rb)), rb)  # the final day itself is fine
