"""A real RFC 3161 timestamp authority on loopback, for tests and benchmarks: a throwaway CA and TSA certificate
made with the openssl command line, and a tiny HTTP server that answers each query with `openssl ts -reply`."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

CONFIG = """[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = revoke test TSA
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
[ tsa_ext ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping
[ tsa_config ]
serial = {dir}/serial
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ess_cert_id_alg = sha256
"""


@dataclass
class Tsa:
    url: str
    ca_file: Path
    queries: list[bytes]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_authority(folder: Path) -> None:
    (folder / "tsa.cnf").write_text(CONFIG.format(dir=folder))
    (folder / "serial").write_text("01\n")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    _openssl("req", "-x509", "-new", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj",
             "/CN=revoke test TSA CA", "-config", "tsa.cnf", "-extensions", "ca_ext", cwd=folder)
    _openssl("req", "-new", *ec, "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", "/CN=revoke test TSA",
             "-config", "tsa.cnf", cwd=folder)
    _openssl("x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
             "tsa.pem", "-days", "2", "-extfile", "tsa.cnf", "-extensions", "tsa_ext", cwd=folder)


@contextlib.contextmanager
def local_tsa() -> Iterator[Tsa]:
    """A TSA serving on 127.0.0.1 inside the block (needs the openssl command line)."""
    with tempfile.TemporaryDirectory(prefix="revoke-tsa-") as tmp:
        folder = Path(tmp)
        make_authority(folder)
        queries: list[bytes] = []
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:  # openssl ts keeps its serial in a file: one reply at a time
                    queries.append(body)
                    query = folder / "query.tsq"
                    query.write_bytes(body)
                    done = subprocess.run(["openssl", "ts", "-reply", "-config", str(folder / "tsa.cnf"),
                                           "-section", "tsa_config", "-queryfile", str(query), "-inkey",
                                           str(folder / "tsa.key"), "-signer", str(folder / "tsa.pem"),
                                           "-out", str(folder / "reply.tsr")], capture_output=True)
                    reply = (folder / "reply.tsr").read_bytes() if done.returncode == 0 else b""
                self.send_response(200 if reply else 500)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield Tsa(f"http://127.0.0.1:{server.server_address[1]}/tsa", folder / "ca.pem", queries)
        finally:
            server.shutdown()
            server.server_close()
