"""Client-side pacing for web APIs that throttle without saying their limit (Microsoft Graph; the Slack client does
not use it yet).

One `Pacer` is shared by every thread that talks to one service. It spaces requests out at a rate, counting each
request (each sub-request of a `$batch` too), so the threads together stay under the service's limit instead of
each finding the closed window by sending into it.

The rate is learnt from the service's throttling answers, because Graph does not announce its limit (its
identity limits are a token bucket whose size depends on the tenant, and "Microsoft Graph continues to log resource
usage while a client is being throttled": sending into a closed window makes it close for longer):

- until the first throttled answer there is no pacing (or only the configured ceiling);
- on a throttled answer every thread holds until its Retry-After. On the first, the rate becomes what the
  service accepted over the last second; on a later one less than `CYCLE_SECONDS` after the one before, a little
  below that, or below the rate the client was held to if that is lower (`BACKOFF`). Answers to requests sent
  before that adjustment say nothing new and are ignored, so one closed window lowers the rate once, not once per
  thread;
- after each quiet second the rate creeps back up (`CREEP`), levels off just under the rate that was throttled
  (`PLATEAU`) and, after `PLATEAU_SECONDS` without a throttled answer, creeps on to find a limit that was raised;
- the first throttled answer overstates the rate (the bucket was full when the run began), so the rate the client
  then keeps drains the bucket again, later. From that second throttled answer on, the rate is what the service
  accepted between the two (`CYCLE_SECONDS` or more apart), hold included: its bucket was empty at both, so that
  is what it refills a second. Paced just under it (`PLATEAU`), the client no longer drains the bucket;
- the bucket refills while every thread holds, and a client paced under the refill rate would never spend what
  it gained: after a hold whose rate comes from such a cycle, the client may send up to `BURST` x the hold's
  worth of requests unspaced, then is spaced again. A throttled answer to a request of such a burst means the
  bucket is smaller than that: bursts end for the pacer's lifetime. A configured ceiling is never burst past.

Time is read and waited through `clock` and `sleep`, so tests drive a pacer on a fake clock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable

BACKOFF = 0.9           # after a throttled answer soon after another: this share of the rate accepted
PLATEAU = 0.97          # creep back up to this share of it, and hold there
CREEP = 0.01            # per quiet second, this share of it
PLATEAU_SECONDS = 30.0  # quiet seconds on the plateau before creeping on
MIN_RATE = 100.0        # below this the client is not what fills the service's window: hold, do not pace
WINDOW = 1.0            # seconds over which the accepted rate is measured
CYCLE_SECONDS = 2.0     # throttled answers at least this far apart measure the refill rate between them
BURST = 0.9             # after such a throttle's hold: this share of the requests the hold let the service refill


class Pacer:
    """A shared schedule of send times. `wait(n)` before sending n requests; `accepted(n)` and `throttled(...)`
    with what the service answered."""

    def __init__(self, ceiling: float | None = None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, min_rate: float = MIN_RATE):
        self.ceiling: float | None = None
        self.rate: float | None = None      # requests per second; None: unpaced
        self.learnt: float | None = None    # the accepted rate measured at the last throttled answer
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
        self._accepted_total = 0                       # every request accepted so far
        self._last_throttle: tuple[float, int] | None = None  # (when, accepted_total then)
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
            self._accepted_total += n
            self._forget(now)

    def throttled(self, sent_at: float, retry_after: float | None) -> None:
        """A request sent at `sent_at` (from `wait`) was answered as throttled, with this Retry-After."""
        with self._lock:
            now = self._clock()
            if sent_at < self._adjusted_at:
                return  # already accounted for: it was in flight when the rate was lowered
            if self._burst_span and self._burst_span[0] <= sent_at <= self._burst_span[1]:
                self.bursts = False  # the bucket is smaller than the hold's worth: never burst again
            self.credit = 0
            self._burst_span = None
            self._forget(now)
            seen = sum(n for _, n in self._accepted) / WINDOW
            hold = retry_after if retry_after is not None else 1.0
            self._hold_until = max(self._hold_until, now + hold)
            self._adjusted_at = now
            self._grown_at = self._hold_until  # quiet seconds count from the end of the hold
            self._plateau_since = None
            previous, self._last_throttle = self._last_throttle, (now, self._accepted_total)
            cycle = None
            if previous is not None and now - previous[0] >= CYCLE_SECONDS:
                cycle = (self._accepted_total - previous[1]) / (now - previous[0])
            if cycle is not None and cycle >= self.min_rate:
                # the service's bucket was empty at both throttled answers: what it accepted in between, over
                # the time between, is what it refills a second
                self.learnt = cycle
                rate = PLATEAU * cycle
                self._plateau_since = self._hold_until
                if self.bursts and not self.ceiling:
                    self.credit = int(BURST * min(hold, WINDOW) * cycle)
            elif seen < self.min_rate:
                return
            elif previous is None:
                # What the service accepted over the last second: more than it refills while the bucket's first
                # contents are being spent, so the bucket drains again, and that throttled answer measures the
                # refill rate (above). Backing off below it would only put that measurement off.
                self.learnt = rate = seen
            else:
                # What Graph accepted over the last second overstates its rate just after a pause (its token
                # bucket refilled meanwhile), so the rate this client was already held to bounds it.
                self.learnt = min(seen, self.rate) if self.rate else seen
                rate = BACKOFF * self.learnt
            self.rate = min(rate, self.ceiling) if self.ceiling else rate

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
        if rate < top:
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
