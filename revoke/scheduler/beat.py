"""Heartbeats for the scheduler's synchronous activities, and refusals said in revoke's own words."""

from __future__ import annotations

import contextvars
import threading
from typing import Any, Callable, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from revoke.errors import RevokeError
from revoke.scheduler.spec import FINAL_ERRORS

T = TypeVar("T")


class Beat:
    """The progress an activity reports with each heartbeat; replaced whole, so a heartbeat never sees it half
    updated."""

    def __init__(self, latest: Any = None):
        self.latest = latest

    def details(self) -> list[Any]:
        return [] if self.latest is None else [self.latest]


def beating(fn: Callable[[], T], beat: Beat | None = None) -> T:
    """Run `fn` while this activity heartbeats (with the progress so far), so a worker that dies is noticed within
    the heartbeat timeout, however long one call to a server takes. `fn` runs in the activity's context."""
    info = activity.info()
    interval = max(0.5, (info.heartbeat_timeout.total_seconds() if info.heartbeat_timeout else 30) / 3)
    box: dict[str, Any] = {}
    done = threading.Event()

    def body() -> None:
        try:
            box["value"] = fn()
        except BaseException as err:  # noqa: BLE001 - handed to the activity's thread below
            box["error"] = err
        finally:
            done.set()

    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(body,), name=f"{info.activity_type}-{info.attempt}",
                     daemon=True).start()
    while not done.wait(interval):
        activity.heartbeat(*(beat.details() if beat else []))
    if "error" in box:
        raise box["error"]
    return box["value"]


def final(err: RevokeError) -> ApplicationError:
    """A refusal no retry can change (stale, guardrail, approvals): the run stops with revoke's own words."""
    name = type(err).__name__
    return ApplicationError(str(err), type=name, non_retryable=name in FINAL_ERRORS)


