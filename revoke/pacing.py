"""Client-side pacing for web APIs that throttle without saying their limit (Microsoft Graph, Slack).

One `Pacer` is shared by every thread that talks to one service. It spaces requests out at a rate, counting each
request (each sub-request of a `$batch` too), so the threads together stay under the service's limit instead of
each finding the closed window by sending into it.

The rate is learnt from the service's throttling answers, because Graph does not announce its limit (its
identity limits are a token bucket whose size depends on the tenant, and "Microsoft Graph continues to log resource
usage while a client is being throttled": sending into a closed window makes it close for longer):

- until the first throttled answer there is no pacing (or only the configured ceiling);
- on a throttled answer every thread holds until its Retry-After, and the rate becomes a little below what the
  service accepted over the last second, or below the rate the client was held to if that is lower (`BACKOFF`). Answers to requests sent before that adjustment say nothing
  new and are ignored, so one closed window lowers the rate once, not once per thread;
- after each quiet second the rate creeps back up (`CREEP`), levels off just under the rate that was throttled
  (`PLATEAU`) and, after `PLATEAU_SECONDS` without a throttled answer, creeps on to find a limit that was raised.

Time is read and waited through `clock` and `sleep`, so tests drive a pacer on a fake clock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable

BACKOFF = 0.9           # after a throttled answer: this share of the rate the service accepted
PLATEAU = 0.97          # creep back up to this share of it, and hold there
CREEP = 0.01            # per quiet second, this share of it
PLATEAU_SECONDS = 30.0  # quiet seconds on the plateau before creeping on
MIN_RATE = 100.0        # below this the client is not what fills the service's window: hold, do not pace
WINDOW = 1.0            # seconds over which the accepted rate is measured


class Pacer:
    """A shared schedule of send times. `wait(n)` before sending n requests; `accepted(n)` and `throttled(...)`
    with what the service answered."""

    def __init__(self, ceiling: float | None = None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.ceiling: float | None = None
        self.rate: float | None = None      # requests per second; None: unpaced
        self.learnt: float | None = None    # the accepted rate measured at the last throttled answer
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0                   # earliest start of the next send
        self._hold_until = 0.0
        self._adjusted_at = float("-inf")  # when the rate was last lowered
        self._grown_at = 0.0               # when the rate last crept up (or was lowered)
        self._plateau_since: float | None = None
        self._accepted: deque[tuple[float, int]] = deque()
        self.limit(ceiling)

    def wait(self, n: int = 1) -> float:
        """Block until `n` requests may be sent; answers the send time to give back to `throttled`. A thread
        that slept looks again before sending: a hold may have begun while it slept."""
        while True:
            with self._lock:
                now = self._clock()
                self._creep(now)
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
            self._forget(now)

    def throttled(self, sent_at: float, retry_after: float | None) -> None:
        """A request sent at `sent_at` (from `wait`) was answered as throttled, with this Retry-After."""
        with self._lock:
            now = self._clock()
            if sent_at < self._adjusted_at:
                return  # already accounted for: it was in flight when the rate was lowered
            self._forget(now)
            seen = sum(n for _, n in self._accepted) / WINDOW
            self._hold_until = max(self._hold_until, now + (retry_after if retry_after is not None else 1.0))
            self._adjusted_at = now
            self._grown_at = self._hold_until  # quiet seconds count from the end of the hold
            self._plateau_since = None
            if seen < MIN_RATE:
                return
            # What Graph accepted over the last second overstates its rate just after a pause (its token bucket
            # refilled meanwhile), so the rate this client was already held to bounds it.
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
