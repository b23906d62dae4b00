"""The closure report as PDF, printed by headless Chromium (Debian package `chromium`) from the HTML report, whose
print CSS lays it out on A4."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from revoke.errors import RevokeError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def browser() -> str | None:
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def headless(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run headless Chromium once, with a profile of its own that is removed afterwards."""
    found = browser()
    if found is None:
        raise RevokeError("PDF needs headless Chromium (Debian: apt-get install chromium); the HTML report is "
                          "closure-report.html in the run folder")
    with tempfile.TemporaryDirectory(prefix="revoke-chromium-") as profile:
        # --no-sandbox: Chromium's sandbox needs user namespaces, which containers and root often lack; the page
        # printed is revoke's own report from the local disk
        return subprocess.run([found, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                               *args], capture_output=True, timeout=timeout, check=False)


def html_to_pdf(html: Path, out: Path) -> Path:
    done = headless("--no-pdf-header-footer", f"--print-to-pdf={out.resolve()}", html.resolve().as_uri())
    if done.returncode != 0 or not out.is_file() or not out.read_bytes().startswith(b"%PDF"):
        raise RevokeError(f"Chromium could not print {html}: {done.stderr.decode(errors='replace')[-500:]}")
    return out
