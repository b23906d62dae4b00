"""The engine's clock, sleeper and retry budget: the one place in revoke that waits.

A connector makes one attempt per provider call and says, by raising `ActionFailed(retryable=True,
retry_after=...)`, whether another makes sense. What happens next is decided here, once, for every connector
(Baton's rule: the builder wraps every provider call in one retryer):

- an idempotent read (discovery, read-back, a page of a listing) goes through `Runtime.read`, which repeats it
  while it fails retryably, waiting `retry_after` (or a bounded back-off) from the system's wait budget;
- a write is never repeated here: the engine reads the target back first (a throttled write may have been carried
  out anyway) and only then tries again, with the same budget (see `revoke.engine`).

Every wait goes through `Clock.sleep` and every reading of time through `Clock.monotonic`/`Clock.now`, so tests
drive throttling on a fake clock in milliseconds (`FakeClock`). Objects shared by the systems of one run (the
Graph pacer of one app and tenant) are made through `Runtime.shared`, so they live as long as the run.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterable, TypeVar

from revoke.errors import ActionFailed

T = TypeVar("T")
U = TypeVar("U")

MAX_BACKOFF_SECONDS = 30.0


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class Clock:
    """How a run reads time and waits. The real one by default."""

    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], dt.datetime] = _utcnow


class FakeClock:
    """A clock that only moves when something sleeps on it: throttling tests take no real time."""

    def __init__(self, start: dt.datetime | None = None):
        self._lock = threading.Lock()
        self.t = 0.0
        self.slept: list[float] = []
        self._start = start or dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)

    def monotonic(self) -> float:
        with self._lock:
            return self.t

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.t += max(0.0, seconds)

    def now(self) -> dt.datetime:
        return self._start + dt.timedelta(seconds=self.monotonic())

    def clock(self) -> Clock:
        return Clock(monotonic=self.monotonic, sleep=self.sleep, now=self.now)


class _Shared:
    """What the systems of one run share: objects made once per key (e.g. one pacer per Graph app and tenant)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.objects: dict[Hashable, Any] = {}


@dataclass
class Runtime:
    """One system's view of the run's clock and its own retry budget. The engine makes one per system
    (`for_system`); a connector reaches it as `self.context.runtime`."""

    clock: Clock = field(default_factory=Clock)
    max_attempts: int = 5            # per call or action, throttling and transient errors included
    max_wait_seconds: float = 300.0  # per system, all waiting for throttling together
    _shared: _Shared = field(default_factory=_Shared, repr=False)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.wait_left = self.max_wait_seconds
        self.waited = 0.0

    def for_system(self) -> "Runtime":
        """Same clock and shared objects, a fresh wait budget."""
        return Runtime(self.clock, self.max_attempts, self.max_wait_seconds, self._shared)

    # ---- time --------------------------------------------------------------------------------------------------
    def now(self) -> dt.datetime:
        return self.clock.now()

    def monotonic(self) -> float:
        return self.clock.monotonic()

    def sleep(self, seconds: float) -> None:
        """Wait without taking from the budget: pacing, or the interval of polling an asynchronous operation
        (the caller bounds how often it does this)."""
        if seconds > 0:
            self.clock.sleep(seconds)

    def take_wait(self, seconds: float) -> float:
        """Reserve up to `seconds` of the system's wait budget; answers what was granted (0 when spent)."""
        with self._lock:
            granted = max(0.0, min(seconds, self.wait_left))
            self.wait_left -= granted
            self.waited += granted
            return granted

    @staticmethod
    def backoff(attempt: int, retry_after: float | None) -> float:
        return retry_after if retry_after is not None else min(2.0 ** attempt, MAX_BACKOFF_SECONDS)

    def may_retry(self, attempt: int, retry_after: float | None) -> float | None:
        """After failed attempt number `attempt`, how long to wait before the next one (taken from the budget);
        None when there is no next one (attempts or budget spent). The caller waits it, or a pacer that already
        holds every request until the provider's Retry-After does."""
        if attempt >= self.max_attempts:
            return None
        wanted = self.backoff(attempt, retry_after)
        granted = self.take_wait(wanted)
        return granted if granted > 0 or wanted <= 0 else None

    # ---- calls -------------------------------------------------------------------------------------------------
    def read(self, call: Callable[[], T]) -> T:
        """Run an idempotent read, repeating it while it fails retryably, within the attempts and the budget.
        The last failure is raised as it came."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return call()
            except ActionFailed as err:
                wait = self.may_retry(attempt, err.retry_after) if err.retryable else None
                if wait is None:
                    raise
                self.sleep(wait)

    def map(self, call: Callable[[T], U], items: Iterable[T], *, limit: int, name: str = "work") -> list[U]:
        """`call` over `items`, at most `limit` at a time, answers in order: the one way a connector works on
        independent things side by side (AWS accounts), so threads stay the engine's. An exception is raised as
        it came, after the calls already started have finished."""
        todo = list(items)
        if limit <= 1 or len(todo) <= 1:
            return [call(item) for item in todo]
        with ThreadPoolExecutor(max_workers=min(limit, len(todo)), thread_name_prefix=name) as pool:
            return list(pool.map(call, todo))

    def shared(self, key: Hashable, make: Callable[[], T]) -> T:
        """The run's one object for `key`, made by `make` the first time any system asks."""
        with self._shared.lock:
            if key not in self._shared.objects:
                self._shared.objects[key] = make()
            made: T = self._shared.objects[key]
            return made
