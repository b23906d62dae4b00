"""`revoke worker` with a witness on the LDAP connector, for the tests that kill workers.

Every write the connector makes is appended to REVOKE_TEST_WRITES ("pid action-id"), so a test counts writes
from outside revoke's evidence. A worker started with REVOKE_TEST_STALL=1 stops answering after its first write
(it keeps heartbeating, like a worker stuck mid-shard) and touches REVOKE_TEST_STALLED: the test then SIGKILLs it.
REVOKE_TEST_SLOW=S makes each write take S seconds more (a slow server), and REVOKE_TEST_BATCH=N cuts the
connector's batches to N actions, so a test can cancel a run between batches of a shard.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from revoke.cli import main
from revoke.connectors.directory.ldap import LdapConnector

_apply = LdapConnector.apply


def _witnessed(self: LdapConnector, action: Any) -> Any:
    receipt = _apply(self, action)
    with open(os.environ["REVOKE_TEST_WRITES"], "a", encoding="utf-8") as f:
        f.write(f"{os.getpid()} {action.id}\n")
    if os.environ.get("REVOKE_TEST_SLOW"):
        time.sleep(float(os.environ["REVOKE_TEST_SLOW"]))  # the test harness's slow server, not the connector's
    if os.environ.get("REVOKE_TEST_STALL") == "1":
        Path(os.environ["REVOKE_TEST_STALLED"]).touch()
        time.sleep(3600)  # written, never reported: killed here
    return receipt


LdapConnector.apply = _witnessed  # type: ignore[method-assign]
if os.environ.get("REVOKE_TEST_BATCH"):
    LdapConnector.batch_size = int(os.environ["REVOKE_TEST_BATCH"])

if __name__ == "__main__":
    main()
