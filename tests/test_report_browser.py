"""The HTML closure report in a real browser (headless Chromium): printed to PDF on A4 by `revoke evidence export
--format pdf`, and laid out at A4 width with nothing wider than the page. Skipped only where Chromium is not
installed, and never in CI (CI=true installs it: .ci/run)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from revoke.pdf import browser, headless
from tests.conftest import skip_unless_ci

if browser() is None:
    skip_unless_ci("headless Chromium is not installed (Debian package chromium; .ci/run installs it)", module=True)

A4_LANDSCAPE_CONTENT_PX = 1031  # 297 mm - 2 x 12 mm margins (the report's @page), at 96 px per inch
PROBE = """<script>
window.addEventListener('load', () => {
  const limit = document.documentElement.clientWidth, wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.right > limit + 0.5 || el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible')
      wide.push(el.tagName + ' ' + (el.textContent || '').trim().slice(0, 60) + ' right=' + Math.round(r.right));
  }
  const out = document.createElement('pre'); out.id = 'overflow-probe';
  out.textContent = JSON.stringify({limit: limit, wide: wide}); document.body.appendChild(out);
});
</script>"""


def report_run(engagement: dict, run_cli: Any) -> Path:
    result = run_cli("--quiet", "--output", "json", "apply", str(engagement["runbook"]), "--yes")
    return Path(json.loads(result.output)["run_dir"])


def test_the_pdf_is_printed_on_a4(engagement: dict, run_cli: Any, tmp_path: Path) -> None:
    run_dir = report_run(engagement, run_cli)
    out = tmp_path / "closure.pdf"
    done = run_cli("evidence", "export", str(run_dir), "--format", "pdf", "--out", str(out))
    assert done.exit_code == 0, done.stderr
    pdf = out.read_bytes()
    assert pdf.startswith(b"%PDF")
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    assert boxes and all(abs(float(w) - 841.9) < 1 and abs(float(h) - 595.3) < 1 for w, h in boxes), boxes[:3]


def test_nothing_overflows_the_page_at_a4_width(engagement: dict, run_cli: Any, tmp_path: Path) -> None:
    run_dir = report_run(engagement, run_cli)
    page = tmp_path / "report.html"
    page.write_text((run_dir / "closure-report.html").read_text().replace("</body>", PROBE + "</body>"))
    done = headless(f"--window-size={A4_LANDSCAPE_CONTENT_PX},1400", "--virtual-time-budget=3000", "--dump-dom",
                    page.as_uri())
    found = re.search(r'<pre id="overflow-probe">(.*?)</pre>', done.stdout.decode(errors="replace"), re.DOTALL)
    assert found, done.stderr.decode(errors="replace")[-500:]
    probe = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<")
                       .replace("&gt;", ">"))
    assert probe["limit"] <= A4_LANDSCAPE_CONTENT_PX and probe["wide"] == [], probe
