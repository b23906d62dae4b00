"""Rate limits that a service announces in its answers' headers: so many requests left (`remaining`) until an epoch
second (`reset`). GitHub (`x-ratelimit-remaining`/`x-ratelimit-reset`) and Okta (`X-Rate-Limit-Remaining`/
`X-Rate-Limit-Reset`) both do; neither client should write this twice.

- `seconds_until(reset, now)`: the `retry_after` of a throttled answer, from its reset header and the run's clock;
- `ResetGate`: holds a request while the headers seen say nothing is left until the reset, waiting on the run's
  clock (`runtime.sleep`: pacing, never `time.sleep`), so the engine's threads together never send into a spent
  limit. A throttled answer anyway (another client of the same credential spent it unseen) is still the
  connector's `ActionFailed(retryable=True, retry_after=seconds_until(...))` for the engine to wait out.

Headers are read from any case-insensitive mapping (`requests` and `httpx` answers' `headers` both are).
"""

from __future__ import annotations

import threading
from typing import Mapping

from revoke.runtime import Runtime

UNKNOWN_RESET_SECONDS = 60.0   # a reset header missing or unreadable: wait a minute, as both services advise
PAST_RESET_SECONDS = 1.0       # our clock is already past the service's reset (clock skew): look again shortly


def seconds_until(reset: str | None, now: float) -> float:
    """Seconds from `now` (epoch seconds on the run's clock) to `reset` (a header's epoch seconds); always > 0."""
    try:
        wait = float(reset or "") - now
    except ValueError:
        return UNKNOWN_RESET_SECONDS
    return wait if wait > 0 else PAST_RESET_SECONDS


class ResetGate:
    """One limit's `remaining` and `reset` as the service reports them; requests in flight count against what is
    left. `enter()` before sending, `leave(headers)` after (None when nothing was answered)."""

    def __init__(self, runtime: Runtime, *, remaining: str, reset: str):
        self.runtime = runtime
        self.remaining_header, self.reset_header = remaining, reset
        self._lock = threading.Lock()
        self.remaining: int | None = None
        self.reset: float | None = None
        self.in_flight = 0
        self.held = 0.0   # seconds requests were held in all, for a test or a benchmark to read

    def enter(self) -> None:
        while True:
            with self._lock:
                now = self.runtime.now().timestamp()
                if self.reset is not None and now >= self.reset:
                    self.remaining, self.reset = None, None   # a new window: its size comes with the next answer
                if self.remaining is None or self.reset is None or self.remaining - self.in_flight > 0:
                    self.in_flight += 1
                    return
                wait = self.reset - now
                self.held += wait
            self.runtime.sleep(wait)

    def leave(self, headers: Mapping[str, str] | None) -> None:
        with self._lock:
            self.in_flight -= 1
            if headers is None:
                return
            try:
                remaining = int(headers[self.remaining_header])
                reset = float(headers[self.reset_header])
            except (KeyError, ValueError):
                return
            if self.reset is None or reset > self.reset:
                self.remaining, self.reset = remaining, reset
            elif reset == self.reset and self.remaining is not None:
                self.remaining = min(self.remaining, remaining)   # answers arrive out of order: the fewest is latest
