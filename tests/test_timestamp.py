"""A trusted timestamp (issue 18): with `timestamp_authority:` in the runbook, the sealed run's listing gets an
RFC 3161 token from that authority, stored in the run folder and checked by `revoke evidence verify --tsa-ca`.
The authority is real (openssl ts, a throwaway CA made in the test) and local: no network."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

from revoke import attest
from revoke.evidence import verify_run
from tests.tsa_env import Tsa, tsa  # noqa: F401 - fixture


def timestamped_run(engagement: dict, tsa: Tsa, run_cli: Any) -> Path:  # noqa: F811
    runbook = engagement["runbook"]
    runbook.write_text(runbook.read_text() + f"timestamp_authority: {tsa.url}\n")
    result = run_cli("--quiet", "--output", "json", "apply", str(runbook), "--yes")
    assert result.exit_code in (0, 3), result.output + result.stderr
    return Path(json.loads(result.output)["run_dir"])


def test_the_sealed_run_is_timestamped_and_verifies(engagement: dict, tsa: Tsa, run_cli: Any) -> None:  # noqa: F811
    run_dir = timestamped_run(engagement, tsa, run_cli)
    token = run_dir / attest.TOKEN
    assert token.is_file() and len(tsa.queries) == 1
    # independently of revoke: openssl checks the token against the TSA's CA and the listing's bytes
    done = subprocess.run(["openssl", "ts", "-verify", "-data", str(run_dir / attest.LISTING), "-in", str(token),
                           "-CAfile", str(tsa.ca_file)], capture_output=True, text=True)
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stdout + done.stderr
    assert attest.token_imprint(token) == hashlib.sha256((run_dir / attest.LISTING).read_bytes()).hexdigest()
    result = run_cli("evidence", "verify", str(run_dir), "--tsa-ca", str(tsa.ca_file))
    assert result.exit_code == 0, result.stderr
    assert "timestamped" in result.output and "GMT" in result.output


def test_a_rewritten_listing_fails_the_timestamp(engagement: dict, tsa: Tsa, run_cli: Any) -> None:  # noqa: F811
    run_dir = timestamped_run(engagement, tsa, run_cli)
    summary = run_dir / "summary.md"
    summary.write_text(summary.read_text() + "\nall done\n")
    (run_dir / attest.LISTING).write_bytes(attest.listing(run_dir))   # the forger re-lists the folder
    problems = verify_run(run_dir, tsa_ca=tsa.ca_file).problems
    assert any(attest.TOKEN in p and "imprint differs" in p for p in problems), problems


def test_a_token_from_another_authority_fails(engagement: dict, tsa: Tsa, run_cli: Any,  # noqa: F811
                                              tmp_path: Path) -> None:
    from tests.tsa_env import make_authority

    run_dir = timestamped_run(engagement, tsa, run_cli)
    other = tmp_path / "other-ca"
    other.mkdir()
    make_authority(other)
    problems = verify_run(run_dir, tsa_ca=other / "ca.pem").problems
    assert any("does not verify" in p for p in problems), problems


def test_an_unreachable_authority_fails_the_run_loudly(engagement: dict, run_cli: Any) -> None:
    runbook = engagement["runbook"]
    runbook.write_text(runbook.read_text() + "timestamp_authority: http://127.0.0.1:9/tsa\n")
    result = run_cli("--quiet", "apply", str(runbook), "--yes")
    assert result.exit_code == 1 and "timestamp_authority http://127.0.0.1:9/tsa" in result.stderr, result.stderr
