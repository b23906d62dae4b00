"""The pacer the Graph client shares between the engine's threads, driven on a fake clock (nothing sleeps)."""

from __future__ import annotations

import math

import pytest

from revoke.pacing import PLATEAU_SECONDS, Pacer


class Clock:
    """time.monotonic and time.sleep for a pacer: sleeping moves the clock; every sleep is kept."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def pacer(ceiling: float | None = None) -> tuple[Pacer, Clock]:
    clock = Clock()
    return Pacer(ceiling, clock=clock, sleep=clock.sleep), clock


def send_for(p: Pacer, clock: Clock, seconds: float, n: int = 20) -> int:
    """Send batches of n as fast as the pacer lets, all accepted, for `seconds` of fake time; returns requests sent."""
    end, sent = clock.now + seconds, 0
    while clock.now < end:
        p.wait(n)
        p.accepted(n)
        sent += n
        clock.now += 0.001  # each answer takes a millisecond
    return sent


def test_unpaced_until_the_service_first_throttles() -> None:
    p, clock = pacer()
    send_for(p, clock, 0.5)
    assert clock.slept == [] and p.rate is None


def test_a_throttled_answer_holds_every_sender_until_retry_after_then_paces_at_what_was_accepted() -> None:
    p, clock = pacer()
    for _ in range(50):  # 1,000 requests accepted within the last second
        sent_at = p.wait(20)
        p.accepted(20)
        clock.now += 0.018
    p.throttled(sent_at, retry_after=2)
    assert p.rate == pytest.approx(1000)  # the 1,000 accepted
    throttled_at = clock.now
    first = p.wait(20)
    assert first == pytest.approx(throttled_at + 2)  # held for the Retry-After
    second = p.wait(20)
    assert second - first == pytest.approx(20 / 1000)  # then spaced at the learnt rate, not in a burst


def test_answers_in_flight_when_the_rate_was_lowered_do_not_lower_it_again() -> None:
    p, clock = pacer()
    sent = [p.wait(20) for _ in range(4)]  # four threads' batches in flight
    send_for(p, clock, 1.0)
    for at in sent[:1]:
        p.throttled(at, retry_after=1)
    lowered = p.rate
    for at in sent[1:]:
        p.throttled(at, retry_after=1)  # the same closed window, seen by the other threads
    assert p.rate == lowered


def test_a_measured_rate_creeps_back_to_a_plateau_below_it_then_on() -> None:
    p, clock = pacer()
    p.resume({"rate": 900.0, "learnt": 1000.0, "measured": True})  # as a measurement leaves it, backed off
    send_for(p, clock, 12.0)
    assert p.rate == pytest.approx(970)  # crept up, levelled off under the rate that was measured
    send_for(p, clock, PLATEAU_SECONDS - 10)
    assert p.rate == pytest.approx(970)  # and stays there a while
    send_for(p, clock, 15.0)
    assert p.rate > 970  # then looks for a limit that was raised


def test_a_throttled_answer_soon_after_another_backs_off_and_measures_again() -> None:
    p, clock = pacer()
    send_for(p, clock, 1.0)
    p.throttled(p.wait(20), retry_after=1)
    send_for(p, clock, 1.5)  # the hold, then half a second
    p.throttled(p.wait(20), retry_after=0.3)  # a second window, over a second after the first: a measurement
    learnt = p.learnt
    assert learnt is not None and p.measured and p.rate == pytest.approx(0.97 * learnt)
    p.throttled(p.wait(20), retry_after=0.3)  # a window soon after: backs off below what was accepted
    assert p.rate == pytest.approx(0.9 * p.learnt) and not p.measured


def test_before_a_measurement_the_rate_climbs_until_the_service_throttles() -> None:
    # one closed window after a second that held a single $batch: a guess, likely low; it is not kept to
    p, clock = pacer()
    send_for(p, clock, 1.0)
    p.throttled(p.wait(20), retry_after=1)
    guess = p.rate
    assert guess is not None and not p.measured
    send_for(p, clock, 6.5)
    assert p.rate == pytest.approx(guess * 1.1 ** 5)  # 10% more each quiet second after the hold


def test_a_configured_ceiling_paces_from_the_first_request_and_is_never_exceeded() -> None:
    p, clock = pacer(ceiling=200)
    start = clock.now
    sent = send_for(p, clock, 2.0)
    assert sent / (clock.now - start) <= 200 * 1.05
    p.throttled(p.wait(20), retry_after=1)
    send_for(p, clock, 60.0)
    assert p.rate is not None and p.rate <= 200


def test_a_throttled_answer_at_a_low_rate_holds_but_does_not_pace() -> None:
    p, clock = pacer()
    at = p.wait(1)
    p.accepted(1)
    p.throttled(at, retry_after=3)  # something else fills the window: pacing 1 request a second would not help
    assert p.rate is None
    assert p.wait(1) == pytest.approx(at + 3)


def test_a_sender_asleep_when_a_hold_begins_waits_for_the_hold() -> None:
    p, clock = pacer(ceiling=100)
    first = p.wait(20)  # the next send may start 0.2 s later
    holds: list[float] = []

    def sleep_and_throttle(seconds: float) -> None:
        clock.sleep(seconds)
        if not holds:  # another thread's answer arrives while this one sleeps
            holds.append(clock.now + 5)
            p.throttled(first, retry_after=5)

    p._sleep = sleep_and_throttle
    assert p.wait(20) >= holds[0]


def test_a_ceiling_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Pacer(0)


def test_systems_using_one_app_in_one_tenant_share_a_pacer_with_the_lowest_ceiling() -> None:
    from revoke.connectors.microsoft.graph import GraphSettings, shared_pacer
    from revoke.runtime import FakeClock, Runtime

    clock = FakeClock()
    run = Runtime(clock.clock())
    base = {"tenant_id": "t-shared", "client_id": "app", "client_secret": {"secret": "s"}}
    entra = shared_pacer(GraphSettings.model_validate(base), run.for_system())
    m365 = shared_pacer(GraphSettings.model_validate({**base, "requests_per_second": 300}), run.for_system())
    other_app = shared_pacer(GraphSettings.model_validate({**base, "client_id": "another app"}), run.for_system())
    assert entra is m365 and entra.ceiling == 300 and entra.rate == 300
    assert other_app is not entra and other_app.rate is None
    entra.throttled(entra.wait(1), 5.0)
    entra.wait(1)
    assert clock.slept == [5.0]  # the pacer waits on the run's clock
    again = shared_pacer(GraphSettings.model_validate(base), Runtime(clock.clock()))
    assert again.ceiling is None and again.rate is None  # the next run does not inherit the ceiling


class Bucket:
    """Graph's throttling on the fake clock: a token bucket of `capacity` requests refilled at `rate` a second,
    full at the start, that charges throttled requests too ("Microsoft Graph continues to log resource usage while
    a client is being throttled"), down to one bucket of debt."""

    def __init__(self, clock: Clock, rate: float, capacity: float):
        self.clock, self.rate, self.capacity = clock, rate, capacity
        self.tokens, self.at = capacity, clock.now

    def take(self, n: int) -> bool:
        self.tokens = min(self.capacity, self.tokens + (self.clock.now - self.at) * self.rate)
        self.at = self.clock.now
        self.tokens -= n
        if self.tokens >= 0:
            return True
        self.tokens = max(self.tokens, -self.capacity)
        return False

    def retry_after(self) -> int:
        """Whole seconds until a request fits again (HTTP's Retry-After is in seconds), at least one."""
        return max(1, math.ceil((1 - self.tokens) / self.rate))


def run_against(p: Pacer, clock: Clock, bucket: Bucket, seconds: float, n: int = 20) -> tuple[int, list[float]]:
    """Send batches of n as fast as the pacer lets, for `seconds`: (requests accepted, times of throttled answers)."""
    end, accepted, throttled = clock.now + seconds, 0, []
    while clock.now < end:
        at = p.wait(n)
        if bucket.take(n):
            p.accepted(n)
            accepted += n
        else:
            p.throttled(at, retry_after=bucket.retry_after(), n=n)
            throttled.append(clock.now)
        clock.now += 0.001
    return accepted, throttled


def until_credit(p: Pacer, clock: Clock, bucket: Bucket) -> None:
    """Send until a throttled answer gives the pacer credit; stop there, before any of it is spent."""
    while True:
        at = p.wait(20)
        if bucket.take(20):
            p.accepted(20)
        else:
            p.throttled(at, retry_after=1, n=20)
            if p.credit:
                return
        clock.now += 0.001


def test_the_second_throttled_answer_measures_the_refill_rate_and_the_client_settles_under_it() -> None:
    p, clock = pacer()
    bucket = Bucket(clock, rate=1000, capacity=1000)
    _, throttled = run_against(p, clock, bucket, 20.0)
    # the first answer's rate still counts the bucket's first contents; the second measures what it refills
    assert len(throttled) >= 2
    assert p.learnt == pytest.approx(1000, rel=0.02) and p.rate == pytest.approx(970, rel=0.02)
    accepted, again = run_against(p, clock, bucket, 25.0)
    assert again == []  # settled under the service's rate: no more throttling
    assert accepted / 25.0 >= 0.95 * 1000


def test_after_a_measured_hold_the_refilled_requests_go_unspaced_then_spacing_resumes() -> None:
    p, clock = pacer()
    bucket = Bucket(clock, rate=1000, capacity=1000)
    until_credit(p, clock, bucket)
    # BURST x a hold of one second at the measured rate, less the debt the throttled batch of 20 left
    assert p.credit == int(0.9 * p.learnt) - 20
    held_until = p.holding_until
    unspaced = p.credit // 20
    sends = [p.wait(20) for _ in range(unspaced + 2)]  # the credit, the hold's own send, and one batch more
    assert sends[0] == pytest.approx(held_until)
    assert sends[unspaced] == pytest.approx(held_until)  # the credit, unspaced once the hold ends
    assert sends[unspaced + 1] - sends[unspaced] == pytest.approx(20 / p.rate)  # then spaced again
    assert p.bursts


def test_answers_in_flight_when_the_credit_was_given_take_back_only_their_own_charge() -> None:
    p, clock = pacer()
    bucket = Bucket(clock, rate=1000, capacity=1000)
    until_credit(p, clock, bucket)
    credit = p.credit
    # another thread's batch, sent before that throttled answer: the service charged its 20 requests too
    p.throttled(clock.now - 0.002, retry_after=1, n=20)
    assert p.credit == credit - 20 and p.bursts


def test_a_burst_that_is_throttled_ends_bursting() -> None:
    p, clock = pacer()
    bucket = Bucket(clock, rate=1000, capacity=1000)
    until_credit(p, clock, bucket)
    first = p.wait(20)  # on credit, after the hold
    bucket.tokens = -1000  # the service's bucket turns out smaller than the hold's worth
    p.throttled(first, retry_after=1)
    assert not p.bursts and p.credit == 0
    run_against(p, clock, bucket, 10.0)
    assert p.credit == 0


def test_a_ceiling_is_never_burst_past() -> None:
    p, clock = pacer(ceiling=2000)
    bucket = Bucket(clock, rate=1000, capacity=1000)
    run_against(p, clock, bucket, 40.0)
    assert p.learnt == pytest.approx(1000, rel=0.02)
    assert p.credit == 0


def graph_pacer(clock: Clock, tenant: str = "t-small", client_id: str = "provider-app") -> Pacer:
    """The pacer the Graph client gets for an app in a tenant, waiting on `clock`."""
    import datetime as dt

    from revoke.connectors.microsoft.graph import GraphSettings, shared_pacer
    from revoke.runtime import Clock as RunClock
    from revoke.runtime import Runtime

    run = Runtime(RunClock(monotonic=clock, sleep=clock.sleep, now=lambda: dt.datetime.now(dt.timezone.utc)))
    settings = GraphSettings.model_validate({"tenant_id": tenant, "client_id": client_id,
                                             "client_secret": {"secret": "s"}})
    return shared_pacer(settings, run)


def test_a_small_tenants_budget_is_learnt_and_kept_to() -> None:
    # Graph's write quota of an app in a tenant is 3,000 per 150 s: 20 a second. Before the Graph client paced
    # from any rate, a budget under 100 a second was only held at (never paced): every Retry-After ended in a
    # burst into the closed window: here a throttled answer every second and 10 requests a second accepted, a
    # third of the budget. Paced, the client learns a rate from the first throttled answer (20 a second: one
    # $batch of 20 was all that second held) and creeps up from there without being throttled again.
    clock = Clock()
    p = graph_pacer(clock)
    bucket = Bucket(clock, rate=30, capacity=30)
    run_against(p, clock, bucket, 20.0)  # learning
    accepted, throttled = run_against(p, clock, bucket, 60.0)
    assert p.rate is not None and p.rate <= 30 * 1.05
    assert accepted / 60.0 >= 0.9 * 30
    assert len(throttled) <= 2


@pytest.mark.parametrize("rate, capacity, senders", [(25, 25, 1), (63, 63, 1), (25, 25, 4), (63, 63, 4),
                                                     (40, 400, 4), (1000, 1000, 4)])
def test_a_budget_is_learnt_from_the_start_within_seconds(rate: int, capacity: int, senders: int) -> None:
    # benchmark 11's tenants: 25 to 63 requests a second, each tenant's work 15 to 30 s of its budget. Every
    # request the service answers, throttled ones too, is charged to its bucket, so what it charged between two
    # closed windows over the time between is its refill rate, however few $batches that time held; the answers
    # of batches in flight when the window closed count too (their Retry-After holds), or the first measurement
    # after an unpaced start would understate the rate and the client would keep to the understatement
    clock = Clock()
    p = graph_pacer(clock, tenant=f"t-{rate}-{capacity}-{senders}")
    work = rate * 30
    seconds = senders_until_done(p, clock, Bucket(clock, rate, capacity), work, senders)
    # the floor: the work past what the full bucket held at the start, at the service's rate
    assert seconds <= (1.1 if senders == 1 else 1.2) * (work - capacity) / rate
    assert p.learnt == pytest.approx(rate, rel=0.05)


def senders_until_done(p: Pacer, clock: Clock, bucket: Bucket, work: int, senders: int,
                       latency: float = 0.02) -> float:
    """`senders` threads sending $batches of 20 until `work` requests are accepted (a throttled request is sent
    again once its hold ends), as events on the fake clock: a sender the pacer makes wait is woken at its time,
    and the other senders' answers in between reach the pacer first. Answers the seconds it took."""
    import heapq

    class Woken(Exception):
        def __init__(self, at: float) -> None:
            self.at = at

    def sleep(seconds: float) -> None:
        raise Woken(clock.now + seconds)

    p._sleep = sleep
    start, left = clock.now, work
    events: list[tuple[float, int, int, float]] = [(clock.now, i, 0, 0.0) for i in range(senders)]  # n 0: send
    while events:
        at, who, n, sent_at = heapq.heappop(events)
        clock.now = max(clock.now, at)
        if n == 0:
            if left <= 0:
                continue
            try:
                sent_at = p.wait(20)
            except Woken as w:
                heapq.heappush(events, (w.at, who, 0, 0.0))
                continue
            n = min(20, left)
            left -= n
            heapq.heappush(events, (clock.now + latency, who, n, sent_at))
            continue
        clock.now -= latency / 2  # the service counts it half-way
        ok = sum(1 for _ in range(n) if bucket.take(1))
        clock.now += latency / 2
        p.accepted(ok)
        if ok < n:
            left += n - ok
            p.throttled(sent_at, retry_after=bucket.retry_after(), n=n - ok)
        heapq.heappush(events, (clock.now, who, 0, 0.0))
    return clock.now - start


def test_a_pacer_carries_on_from_what_another_learnt() -> None:
    # the next shard of a scheduled run, on another worker: it paces from its first request at what the last
    # shard's pacer learnt, instead of spending a closed window to learn it again
    clock = Clock()
    first, bucket = graph_pacer(clock, "t-carried"), Bucket(clock, rate=40, capacity=40)
    senders_until_done(first, clock, bucket, 40 * 20, senders=1)
    state = first.state()
    assert state is not None and state["measured"] and state["learnt"] == pytest.approx(40, rel=0.05)
    clock.now += 5.0  # between shards the bucket fills again
    fresh = Pacer(clock=clock, sleep=clock.sleep, min_rate=5.0)
    fresh.resume(state)
    accepted, throttled = run_against(fresh, clock, Bucket(clock, rate=40, capacity=40), 30.0)
    assert throttled == [] and accepted / 30.0 >= 0.9 * 40
    assert Pacer().state() is None


def test_a_pacer_throttled_just_after_it_carried_on_backs_off_from_the_carried_rate() -> None:
    # the shard before spent the bucket to its last token: the next shard's first $batch is throttled. What it
    # saw accepted in that instant is one $batch, not a second's worth: the rate it carried on stays (backed off)
    clock = Clock()
    p = Pacer(clock=clock, sleep=clock.sleep, min_rate=5.0)
    p.resume({"rate": 40.0, "learnt": 41.0, "measured": True})
    sent = p.wait(20)
    clock.now += 0.05
    p.accepted(13)
    p.throttled(sent, retry_after=1, n=7)
    assert p.rate == pytest.approx(0.9 * 40.0)


def test_the_next_request_waits_what_the_pacer_it_carries_on_from_still_had_to() -> None:
    clock = Clock()
    first = Pacer(clock=clock, sleep=clock.sleep, min_rate=5.0)
    first.resume({"rate": 40.0, "learnt": 41.0, "measured": True})
    first.throttled(first.wait(20), retry_after=2)  # the service's window closed as the shard ended
    state = first.state()
    assert state is not None and state["after"] == pytest.approx(2.0, abs=0.01)
    fresh = Pacer(clock=clock, sleep=clock.sleep, min_rate=5.0)
    fresh.resume(state)
    assert fresh.wait(20) == pytest.approx(clock.now) and clock.slept[-1] == pytest.approx(2.0, abs=0.01)


def test_answers_in_flight_hold_until_their_own_retry_after() -> None:
    p, clock = pacer()
    sent = [p.wait(20) for _ in range(3)]  # unpaced: three batches in flight at once
    send_for(p, clock, 1.0)
    p.throttled(sent[0], retry_after=1)
    rate = p.rate
    p.throttled(sent[1], retry_after=4)  # answered later, with the service's deeper debt in it
    assert p.rate == rate and p.holding_until == pytest.approx(clock.now + 4)


def test_one_app_in_two_tenants_paces_each_tenant_on_its_own_budget() -> None:
    # a provider's multi-tenant app: the same client id and Graph root in every customer's tenant
    clock = Clock()
    busy, quiet = graph_pacer(clock, "tenant-busy"), graph_pacer(clock, "tenant-quiet")
    assert busy is not quiet
    run_against(busy, clock, Bucket(clock, rate=30, capacity=30), 10.0)
    assert busy.rate is not None and busy.rate <= 30
    busy.throttled(busy.wait(20), retry_after=30)  # the busy tenant's window is closed for half a minute
    clock.slept.clear()
    for _ in range(10):
        quiet.wait(20)
        quiet.accepted(20)
    assert clock.slept == [] and quiet.rate is None  # the other tenant never waits on it
