"""Run `revoke ...` and SIGKILL the process around the N-th write of the ldap connector.

Usage: python crashing_apply.py N before|after revoke-args...
"before" dies just before the N-th write reaches the server (its intent is journalled, the write never happens);
"after" dies right after the server accepted it (the write happened, its outcome record was never written).
"""

import os
import signal
import sys
import threading

from revoke.connectors.directory.ldap import LdapConnector

kill_at, where = int(sys.argv[1]), sys.argv[2]
calls = 0
lock = threading.Lock()
real_apply = LdapConnector.apply


def apply(self, action):  # type: ignore[no-untyped-def]
    global calls
    with lock:
        calls += 1
        mine = calls
    if mine == kill_at and where == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    receipt = real_apply(self, action)
    if mine == kill_at and where == "after":
        os.kill(os.getpid(), signal.SIGKILL)
    return receipt


LdapConnector.apply = apply  # type: ignore[method-assign]

from revoke.cli import main  # noqa: E402

sys.argv = ["revoke", *sys.argv[3:]]
main()
