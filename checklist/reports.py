"""Closure reports of a run: closure-report.md, closure-report.html (self-contained, printable) and
closure-report.json, all rendered from the one closure model in `revoke.checklist.closure`.

The engine calls `write_reports` before it seals the run, so the seal record and manifest.json cover the reports
and `revoke evidence verify` catches an edited one.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from array import array
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from revoke.checklist.closure import ACTION_FIELDS, LogRows, build_closure, write_json
from revoke.checklist.items import problem_of
from revoke.checklist.page import escape_cell, escape_code

TEMPLATES = Path(__file__).parent / "templates"
REPORTS = ("closure-report.md", "closure-report.html", "closure-report.json")


def value_text(value: Any) -> str:
    """A state value as a reader expects it: strings bare, everything else as compact JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def state_changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each field of the before- and after-state, with whether it changed; changed fields first."""
    before = before or {}
    if after is None:
        after = before  # nothing was read back (plan, skipped): show the before-state alone, without arrows
    rows = []
    for key in sorted(set(before) | set(after)):
        b = value_text(before[key]) if key in before else "—"
        a = value_text(after[key]) if key in after else "—"
        rows.append({"key": key, "before": b, "after": a, "changed": key in after and b != a})
    return sorted(rows, key=lambda r: not r["changed"])


def targets(action: dict[str, Any]) -> dict[str, str]:
    """The label, resource and principal an action names that its summary does not already say, each once:
    a lock-account record often carries the same DN as all three."""
    summary = action.get("summary") or ""
    seen = [summary]
    out = {"label": "", "resource": "", "principal": ""}
    for key in ("label", "resource", "principal"):
        value = action.get(key) or ""
        if value and not any(value in s for s in seen):
            out[key] = value
            seen.append(value)
    return out


def operator_text(operator: Any) -> str:
    """Who a connector acted as, as a person reads it: its name first, then the details that identify it
    ("cn=revoke,ou=services,dc=example,dc=org (bind dn; whoami: dn:...)")."""
    if isinstance(operator, dict):
        details = [f"{k.replace('_', ' ')}: {value_text(v)}" for k, v in sorted(operator.items())
                   if k != "display" and v not in (None, "", [], {})]
        name = value_text(operator.get("display")) if operator.get("display") else ""
        if not name:
            return "; ".join(details)
        return f"{name} ({'; '.join(details)})" if details else name
    return value_text(operator) if operator else ""


def md_cell(value: Any) -> str:
    """Text for one Markdown table cell, neutralised (checklist.page.escape_cell)."""
    text = value if isinstance(value, str) else value_text(value)
    return escape_cell(text) if text else ""


def md_code(value: Any) -> str:
    """Text for inside a `code span` of a table cell."""
    text = value if isinstance(value, str) else value_text(value)
    return escape_code(text) if text else ""


def short_time(value: str | None) -> str:
    """2026-11-25T10:02:03.123Z -> 2026-11-25 10:02:03Z."""
    if not value:
        return ""
    zone = re.search(r"(Z|[+-]\d\d:\d\d)$", value)
    suffix = "" if zone is None else ("Z" if zone.group(1) in ("Z", "+00:00") else zone.group(1))
    return value.replace("T", " ")[:19] + suffix


# The per-action rows are rendered here rather than in the templates: a run of 40,000 actions has 80,000 rows
# across the two reports, and formatting each in Python costs a fraction of the same row in Jinja. Each renders
# exactly what the templates' loops rendered before (compared byte for byte on benchmark runs when it was written).
def md_row(a: dict[str, Any]) -> str:
    t = targets(a)
    what = md_cell(a.get("summary") or a.get("kind"))
    what += f" ({md_cell(t['label'])})" if t["label"] else ""
    what += f": `{md_code(t['resource'])}`" if t["resource"] else ""
    what += f" for `{md_code(t['principal'])}`" if t["principal"] else ""
    changes = []
    for ch in state_changes(a.get("before"), a.get("after")):
        text = f"{md_cell(ch['key'])}: {md_cell(ch['before'])}"
        if ch["changed"]:
            text += f" -> **{md_cell(ch['after'])}**"
        elif ch["after"] != ch["before"]:
            text += f" -> {md_cell(ch['after'])}"
        changes.append(text)
    outcome = str(a.get("outcome"))
    outcome += f": {md_cell(a['error'])}" if a.get("error") else ""
    outcome += f" ({md_cell(a['note'])})" if a.get("note") else ""
    verification = str(a.get("verification"))
    if a.get("problem") and a["problem"] != a.get("verification"):
        verification += f" (**{a['problem']}**)"
    cells = [short_time(a.get("time")), md_cell(a.get("person") or ""), str(a.get("system")), what,
             "<br>".join(changes), outcome, verification, md_cell(", ".join(a.get("request_ids") or [])),
             md_cell(operator_text(a.get("operator")))]
    return "| " + " | ".join(cells) + " |"


def html_row(a: dict[str, Any]) -> Markup:
    def e(value: Any) -> str:
        return str(escape(value))

    t = targets(a)
    what = e(a.get("summary") or a.get("kind"))
    what += f' <span class="muted">({e(t["label"])})</span>' if t["label"] else ""
    what += f"<br><code>{e(t['resource'])}</code>" if t["resource"] else ""
    what += f'<br><span class="muted">for</span> <code>{e(t["principal"])}</code>' if t["principal"] else ""
    changes = []
    for ch in state_changes(a.get("before"), a.get("after")):
        key, before, after = e(ch["key"]), e(ch["before"]), e(ch["after"])
        if ch["changed"]:
            changes.append(f'<span class="changed">{key}: {before} &rarr; {after}</span>')
        elif ch["after"] != ch["before"]:
            changes.append(f"{key}: {before} &rarr; {after}")
        else:
            changes.append(f'<span class="muted">{key}: {before}</span>')
    outcome = e(a.get("outcome"))
    outcome += f"<br>{e(a['error'])}" if a.get("error") else ""
    outcome += f'<br><span class="muted">{e(a["note"])}</span>' if a.get("note") else ""
    if a.get("attempts") and a["attempts"] > 1:
        outcome += f'<br><span class="muted">{e(a["attempts"])} attempts</span>'
    verification = e(a.get("verification"))
    if a.get("problem") and a["problem"] != a.get("verification"):
        verification += f"<br><strong>{e(a['problem'])}</strong>"
    cls = ' class="problem"' if a.get("problem") else ""
    return Markup(f"<tr{cls}>\n    <td>{e(short_time(a.get('time')))}</td>\n"
                  f"    <td class=\"name\">{e(a.get('person') or '')}</td>\n"
                  f"    <td class=\"name\">{e(a.get('system'))}</td>\n    <td>{what}</td>\n"
                  f'    <td class="mono">{"<br>".join(changes)}</td>\n    <td>{outcome}</td>\n'
                  f'    <td>{verification}</td>\n'
                  f'    <td class="mono">{e(", ".join(a.get("request_ids") or []))}</td>\n'
                  f'    <td class="mono">{e(operator_text(a.get("operator")))}</td>\n  </tr>')


def md_exposure(exposure: list[dict[str, Any]]) -> str:
    """The residual-exposure table's rows, one per person, system and item (one entry per leaver: Python, not
    Jinja, for the same reason as the action rows)."""
    # the template's line ends the last row
    return "".join(f"| {md_cell(e.get('person') or '')} | {md_cell(e.get('system'))} | {md_cell(x['what'])} | "
                   f"{md_cell(x['bound'])} | {md_cell(x['basis'])} |\n" for e in exposure
                   for x in e["items"]).removesuffix("\n")


def html_exposure(exposure: list[dict[str, Any]]) -> Markup:
    def e_(value: Any) -> str:
        return str(escape(value))

    out, person = [], object()
    for e in exposure:
        if e.get("person") != person:
            person = e.get("person")
            out.append(f'<tr class="group"><th colspan="4">{e_(person or "")}</th></tr>')
        for x in e["items"]:
            cls = ' class="problem"' if x.get("until") is None and x["what"] != "none" else ""
            out.append(f"  <tr{cls}><td>{e_(e.get('system'))}</td><td>{e_(x['what'])}</td><td>{e_(x['bound'])}</td>"
                       f"<td>{e_(x['basis'])}</td></tr>\n")
    return Markup("".join(out).removesuffix("\n"))  # the template's line ends the last row


def _environment(autoescape: bool) -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined, trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True,
                      autoescape=autoescape)
    env.filters.update(value_text=value_text, state_changes=state_changes, operator_text=operator_text,
                       md_cell=md_cell, short_time=short_time, targets=targets, md_row=md_row, html_row=html_row,
                       md_exposure=md_exposure, html_exposure=html_exposure)
    return env


FORMATS = ("md", "html", "json")


def _rendered(a: dict[str, Any]) -> dict[str, bytes]:
    """One action row in each report's format, as it is written into the report."""
    return {"md": (md_row(a) + "\n").encode(), "html": ("  " + html_row(a) + "\n").encode(),
            "json": (json.dumps(a, sort_keys=True, ensure_ascii=False, default=str) + "\n").encode()}


class ReportWriter:
    """The closure-report writer a run calls before it is sealed (`ApplyOptions.before_seal`).

    While the run goes, the engine shows it each batch of records (`observe`, `ApplyOptions.observe`), and it
    renders their action rows then, in time the run spends waiting on servers (a throttled service, a disk
    sync). The reports copy those rows, checked against the final evidence (same record, same number of records
    for the action); anything else is rendered from the log when the reports are written."""

    def __init__(self) -> None:
        self._scratch = tempfile.TemporaryDirectory(prefix="revoke-rows-")
        self._files = {fmt: Path(self._scratch.name) / f"rows.{fmt}" for fmt in FORMATS}
        self._outs = {fmt: path.open("wb") for fmt, path in self._files.items()}
        self._lock = threading.Lock()
        self._slot: dict[str, int] = {}              # action id -> its latest rendered row
        self._seq, self._count = array("q"), array("q")
        self._starts = {fmt: array("q") for fmt in FORMATS}
        self._counts: dict[str, int] = {}            # records seen per action

    def observe(self, records: Iterable[dict[str, Any]]) -> None:
        for rec in records:
            if rec.get("type") != "action":
                continue
            aid = rec["action_id"]
            with self._lock:
                count = self._counts[aid] = self._counts.get(aid, 0) + 1
            if "planned" not in rec:
                continue  # a record from before action records said what the plan decided: rendered later
            problem = None if rec.get("mode") == "plan" else problem_of(rec, rec["planned"])
            rows = _rendered({**{k: rec.get(k) for k in ACTION_FIELDS}, "records": count, "problem": problem})
            with self._lock:
                self._slot[aid] = len(self._seq)
                self._seq.append(int(rec.get("seq", 0)))
                self._count.append(count)
                for fmt in FORMATS:
                    self._starts[fmt].append(self._outs[fmt].tell())
                    self._outs[fmt].write(rows[fmt])

    def rendered(self, aid: str, seq: int, count: int) -> dict[str, tuple[int, int]] | None:
        """Where the row of this record was rendered, per format, if it was and still holds."""
        slot = self._slot.get(aid)
        if slot is None or self._seq[slot] != seq or self._count[slot] != count:
            return None
        out = {}
        for fmt in FORMATS:
            starts = self._starts[fmt]
            end = starts[slot + 1] if slot + 1 < len(starts) else self._outs[fmt].tell()
            out[fmt] = (starts[slot], end)
        return out

    def read(self, fmt: str) -> Any:
        self._outs[fmt].flush()
        return self._files[fmt].open("rb")

    def __call__(self, run_dir: Path) -> list[Path]:
        try:
            return write_reports(run_dir, self)
        finally:
            self.close()

    def close(self) -> None:
        for f in self._outs.values():
            f.close()
        self._scratch.cleanup()


class RenderedRows:
    """Each item's action rows rendered once into a scratch file per format (copied from what a `ReportWriter`
    rendered during the run, or rendered from the log), then copied into each report: three reports would
    otherwise read and parse every record three times."""

    def __init__(self, closure: dict[str, Any], scratch: Path, early: ReportWriter | None = None):
        self._files = {fmt: scratch / f"rows.{fmt}" for fmt in FORMATS}
        self._regions: dict[tuple[int, str], tuple[int, int]] = {}
        outs = {fmt: path.open("wb") for fmt, path in self._files.items()}
        ins = {fmt: early.read(fmt) for fmt in FORMATS} if early else {}
        try:
            for item in closure["items"]:
                rows: LogRows = item["actions"]
                starts = {fmt: f.tell() for fmt, f in outs.items()}
                with rows.log.open("rb") as log:
                    for index, key in enumerate(rows.keys):
                        where = early.rendered(*key) if early else None
                        if where is None:
                            for fmt, data in _rendered(rows.row_at(log, index)).items():
                                outs[fmt].write(data)
                            continue
                        for fmt, (start, end) in where.items():
                            ins[fmt].seek(start)
                            outs[fmt].write(ins[fmt].read(end - start))
                for fmt, f in outs.items():
                    self._regions[(id(rows), fmt)] = (starts[fmt], f.tell())
        finally:
            for f in [*outs.values(), *ins.values()]:
                f.close()

    def chunks(self, rows: Any, fmt: str) -> Iterator[str]:
        """The rendered rows of `rows` (an item's actions) in `fmt`, in pieces of whole lines."""
        start, end = self._regions[(id(rows), fmt)]
        with self._files[fmt].open("rb") as f:
            f.seek(start)
            left, rest = end - start, b""
            while left > 0:
                block = rest + f.read(min(left, 1 << 18))
                left -= len(block) - len(rest)
                cut = block.rfind(b"\n") + 1 if left > 0 else len(block)
                block, rest = block[:cut], block[cut:]
                yield block.decode()
            if rest:
                yield rest.decode()

    def lines(self, rows: Any, fmt: str) -> Iterator[str]:
        if (id(rows), fmt) not in self._regions:  # rows that were not rendered ahead (needs-a-person rows)
            yield from (json.dumps(a, sort_keys=True, ensure_ascii=False, default=str) for a in rows)
            return
        for chunk in self.chunks(rows, fmt):
            yield from chunk.splitlines()


def write_reports(run_dir: Path, early: ReportWriter | None = None) -> list[Path]:
    """Write the three closure reports into the run folder and return their paths. Each is streamed to its file
    as it is rendered: the action rows are rendered once, record by record, and copied into each report, so a
    report of 40,000 actions never exists whole in memory."""
    run_dir = Path(run_dir)
    closure = build_closure(run_dir)
    markdown, html = _environment(False), _environment(True)
    with tempfile.TemporaryDirectory(prefix="revoke-report-") as scratch:
        rendered = RenderedRows(closure, Path(scratch), early)

        def rows(item: dict[str, Any], fmt: str) -> Iterator[str]:
            chunks = rendered.chunks(item["actions"], fmt)
            return (Markup(c) for c in chunks) if fmt == "html" else chunks

        writers = {
            "closure-report.md": lambda f: f.writelines(
                markdown.get_template("closure-report.md.j2").generate(c=closure, rows=rows)),
            "closure-report.html": lambda f: f.writelines(
                html.get_template("closure-report.html.j2").generate(c=closure, rows=rows)),
            "closure-report.json": lambda f: _json_file(closure, f, rendered.lines),
        }
        written = []
        for name in REPORTS:
            path = run_dir / name
            tmp = path.with_name(name + ".tmp")   # evidence ignores *.tmp, so a crash leaves nothing half-listed
            with tmp.open("w", encoding="utf-8") as f:
                writers[name](f)
            os.replace(tmp, path)
            written.append(path)
    return written


def _json_file(closure: dict[str, Any], f: Any, lines: Callable[[Any, str], Iterator[str]]) -> None:
    write_json(closure, f.write, lines=lines)
    f.write("\n")
