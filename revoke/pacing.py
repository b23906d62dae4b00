"""Client-side pacing for web APIs that throttle without saying their limit (Microsoft Graph; the Slack client does
not use it yet).

One `Pacer` is shared by every thread that talks to one service. It spaces requests out at a rate, counting each
request (each sub-request of a `$batch` too), so the threads together stay under the service's limit instead of
each finding the closed window by sending into it.

The rate is learnt from the service's throttling answers, because Graph does not announce its limit (its
identity limits are a token bucket whose size depends on the tenant, and "Microsoft Graph continues to log resource
usage while a client is being throttled": sending into a closed window makes it close for longer):

- until the first throttled answer there is no pacing (or only the configured ceiling);
- on a throttled answer every thread holds until its Retry-After (answers to requests already in flight extend
  the hold to their own Retry-After but lower nothing again, so one closed window lowers the rate once, not once
  per thread). On the first, the rate becomes what the service accepted over the last second: a guess (the
  bucket was full when the run began; at tens of requests a second that second held one or two `$batch`es), so
  until a rate is measured it climbs `PROBE` a quiet second, to drain the bucket again soon;
- from the second throttled answer on (`CYCLE_SECONDS` or more after the one before), the rate is measured: what
  the service charged between the two, over the time between, hold included. Its bucket was empty at both, so
  that is what it refills a second; "charged" counts every request answered, the throttled ones too ("Microsoft
  Graph continues to log resource usage while a client is being throttled"), so the measurement does not depend
  on how many `$batch`es a second holds. Counting a request the service no longer charged (past its debt) can
  only overstate the rate, which the next closed window corrects; an understatement would be kept to;
- a throttled answer sooner than that after another backs off a little below what was accepted, or below the
  rate the client was held to if that is lower (`BACKOFF`), a guess again that climbs until measured;
- after each quiet second a measured rate creeps back up (`CREEP`), levels off just under it (`PLATEAU`) and,
  after `PLATEAU_SECONDS` without a throttled answer, creeps on to find a limit that was raised;
- the bucket refills while every thread holds, and a client paced under the refill rate would never spend what
  it gained: after a hold whose rate comes from such a cycle, the client may send up to `BURST` x the hold's
  worth of requests, less the debt the throttled ones left, unspaced, then is spaced again. A throttled answer to
  a request of such a burst means the bucket is smaller than that: bursts end for the pacer's lifetime. A
  configured ceiling is never burst past;
- `state()` and `resume()` hand what was learnt, and how long the next request must still wait, to the pacer
  that carries on with the same budget elsewhere (a scheduled run's next shard, on another worker), so it is not
  learnt again by sending into a closed window. A throttled answer less than a second after a resume is weighed
  against what was sent since the resume, not against a whole second of it.

Time is read and waited through `clock` and `sleep`, so tests drive a pacer on a fake clock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Callable

BACKOFF = 0.9           # after a throttled answer soon after another: this share of the rate accepted
PLATEAU = 0.97          # creep back up to this share of it, and hold there
CREEP = 0.01            # per quiet second, this share of it
PROBE = 0.1             # before a rate is measured: this share more per quiet second, until throttled
PLATEAU_SECONDS = 30.0  # quiet seconds on the plateau before creeping on
MIN_RATE = 100.0        # below this the client is not what fills the service's window: hold, do not pace
WINDOW = 1.0            # seconds over which the accepted rate is measured
CYCLE_SECONDS = 1.0     # throttled answers at least this far apart measure the refill rate between them
BURST = 0.9             # after such a throttle's hold: this share of the requests the hold let the service refill


class Pacer:
    """A shared schedule of send times. `wait(n)` before sending n requests; `accepted(n)` and `throttled(...)`
    with what the service answered."""

    def __init__(self, ceiling: float | None = None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, min_rate: float = MIN_RATE):
        self.ceiling: float | None = None
        self.rate: float | None = None      # requests per second; None: unpaced
        self.learnt: float | None = None    # the accepted rate measured at the last throttled answer
        self.measured = False               # whether `learnt` was measured over a whole cycle
        self._clock = clock
        self._sleep = sleep
        # below this rate the client is not what fills the window (MIN_RATE suits Graph's thousands a second; a
        # service limited to tens of calls a second, such as Exchange Online, passes its own)
        self.min_rate = min_rate
        self._lock = threading.Lock()
        self._next = 0.0                   # earliest start of the next send
        self._hold_until = 0.0
        self._adjusted_at = float("-inf")  # when the rate was last lowered
        self._grown_at = 0.0               # when the rate last crept up (or was lowered)
        self._plateau_since: float | None = None
        self._accepted: deque[tuple[float, int]] = deque()
        self._counting_since = float("-inf")  # when this pacer began counting what was accepted (a resume)
        self._last_throttle: float | None = None  # when the last closed window began
        # requests the service charged since then: every one answered, and the throttled ones of the answer that
        # began it ("Microsoft Graph continues to log resource usage while a client is being throttled")
        self._charged = 0
        self.credit = 0                     # requests that may go unspaced once the hold ends
        self.bursts = True                  # False once a burst met a throttled answer
        self._burst_span: tuple[float, float] | None = None  # first and last send on credit
        self.limit(ceiling)

    def wait(self, n: int = 1) -> float:
        """Block until `n` requests may be sent; answers the send time to give back to `throttled`. A thread
        that slept looks again before sending: a hold may have begun while it slept."""
        while True:
            with self._lock:
                now = self._clock()
                self._creep(now)
                if self.credit >= n and self._hold_until <= now:
                    self.credit -= n
                    first = self._burst_span[0] if self._burst_span else now
                    self._burst_span = (first, now)
                    return now
                start = max(self._hold_until, self._next)
                if start <= now:
                    if self.rate:
                        self._next = now + n / self.rate
                    return now
            self._sleep(start - now)

    def accepted(self, n: int) -> None:
        """`n` requests were answered without throttling."""
        if n <= 0:
            return
        with self._lock:
            now = self._clock()
            self._accepted.append((now, n))
            self._charged += n
            self._forget(now)

    def throttled(self, sent_at: float, retry_after: float | None, n: int = 1) -> None:
        """`n` requests sent at `sent_at` (from `wait`) were answered as throttled, with this Retry-After."""
        with self._lock:
            now = self._clock()
            if sent_at <= self._adjusted_at:
                # in flight when the window closed: it lowers nothing again, but the service charged it (the
                # next measurement counts it: counting a request the service no longer counted overstates the
                # rate, which the next throttled answer corrects; leaving out one it did count would understate
                # it, and nothing would), and its Retry-After holds
                self._charged += n
                self.credit = max(0, self.credit - n)
                if retry_after is not None and now + retry_after > self._hold_until:
                    self._hold_until = self._grown_at = now + retry_after
                return
            if self._burst_span and self._burst_span[0] <= sent_at <= self._burst_span[1]:
                self.bursts = False  # the bucket is smaller than the hold's worth: never burst again
            self.credit = 0
            self._burst_span = None
            self._forget(now)
            # a pacer resumed less than a window ago saw only its own first requests: over that span, or the
            # rate it carried on from (below) would fall to one $batch a second
            seen = sum(k for _, k in self._accepted) / max(min(WINDOW, now - self._counting_since), 1e-3)
            hold = retry_after if retry_after is not None else 1.0
            self._hold_until = max(self._hold_until, now + hold)
            self._adjusted_at = now
            self._grown_at = self._hold_until  # quiet seconds count from the end of the hold
            self._plateau_since = None
            previous, self._last_throttle = self._last_throttle, now
            charged, self._charged = self._charged, n
            cycle = charged / (now - previous) if previous is not None and now - previous >= CYCLE_SECONDS else None
            self._learn(seen, cycle, hold, first=self.learnt is None)

    def _learn(self, seen: float, cycle: float | None, hold: float, first: bool) -> None:
        if cycle is not None and cycle >= self.min_rate:
            # the service's bucket was empty at both throttled answers: what it charged in between, over the
            # time between (the hold included: the bucket refilled through it), is what it refills a second
            self.learnt, self.measured = cycle, True
            rate = PLATEAU * cycle
            self._plateau_since = self._hold_until
            if self.bursts and not self.ceiling:
                # what the hold refilled beyond the debt the throttled requests left (those in flight are
                # taken off as their answers come)
                self.credit = max(0, int(BURST * min(hold, WINDOW) * cycle) - self._charged)
        elif seen < self.min_rate:
            return
        elif first:
            # What the service accepted over the last second: more than it refills while the bucket's first
            # contents are being spent, so the bucket drains again soon, and that throttled answer measures the
            # refill rate (above). Backing off below it would only put that measurement off.
            self.learnt = rate = seen
        else:
            # What Graph accepted over the last second overstates its rate just after a pause (its token
            # bucket refilled meanwhile), so the rate this client was already held to bounds it.
            self.learnt = min(seen, self.rate) if self.rate else seen
            rate = BACKOFF * self.learnt
            self.measured = False  # a guess again: climb until the next closed window measures the rate
        self.rate = min(rate, self.ceiling) if self.ceiling else rate

    def state(self) -> dict[str, Any] | None:
        """What this pacer learnt, for the pacer that carries on the same budget elsewhere (the next shard of a
        scheduled run, on whichever worker takes it); None before anything was learnt."""
        with self._lock:
            if self.learnt is None or self.rate is None:
                return None
            # how long the next request must still wait (a hold, or the spacing after the last one): the bucket
            # this pacer spent is not full again for the pacer that carries on right after
            after = max(0.0, self._hold_until - self._clock(), self._next - self._clock())
            return {"rate": self.rate, "learnt": self.learnt, "measured": self.measured, "bursts": self.bursts,
                    "after": round(after, 3)}

    def resume(self, state: dict[str, Any] | None) -> None:
        """Carry on from what the pacer of the same budget that ran last learnt (`state()`): paced at its rate
        from now on. What this pacer counted before is no measurement any more (others sent in between)."""
        if not state:
            return
        with self._lock:
            now = self._clock()
            self.learnt = float(state["learnt"])
            rate = float(state["rate"])
            self.rate = min(rate, self.ceiling) if self.ceiling else rate
            self.measured = bool(state.get("measured", False))
            self.bursts = bool(state.get("bursts", True))
            self._last_throttle, self._charged = None, 0
            self._accepted.clear()
            self._counting_since = now
            self._next = max(self._next, now + float(state.get("after", 0.0)))
            self._grown_at = now
            self._plateau_since = now if self.measured else None

    def limit(self, ceiling: float | None) -> None:
        """Never go above `ceiling` (the lowest of the ceilings given wins)."""
        if ceiling is None:
            return
        if ceiling <= 0:
            raise ValueError("a pacing ceiling must be a positive number of requests per second")
        with self._lock:
            self.ceiling = min(ceiling, self.ceiling) if self.ceiling else ceiling
            self.rate = min(self.rate, self.ceiling) if self.rate else self.ceiling

    @property
    def holding_until(self) -> float:
        with self._lock:
            return self._hold_until

    def _creep(self, now: float) -> None:
        if self.learnt is None or self.rate is None:
            return
        quiet = int(now - self._grown_at)
        if quiet < 1:
            return
        self._grown_at += quiet
        top = PLATEAU * self.learnt
        rate = self.rate
        if not self.measured:
            # nothing measured yet: what was learnt is a guess from a second or two of answers, likely low (a
            # second holds one or two $batches at tens of requests a second); climb until the next throttled
            # answer measures the rate
            rate *= (1 + PROBE) ** quiet
        elif rate < top:
            rate = min(top, rate + quiet * CREEP * self.learnt)
            if rate >= top:
                self._plateau_since = now
        elif self._plateau_since is None:
            self._plateau_since = now
        elif now - self._plateau_since >= PLATEAU_SECONDS:
            rate += quiet * CREEP * self.learnt
        self.rate = min(rate, self.ceiling) if self.ceiling else rate

    def _forget(self, now: float) -> None:
        while self._accepted and self._accepted[0][0] <= now - WINDOW:
            self._accepted.popleft()
