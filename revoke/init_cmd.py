"""`revoke init`: a starting runbook from what a new user has, an HR export of the leavers and a list of systems.

The CSV has a header row: `name` and `email` (required), optionally a column per system with the person's id there
(headed by the system's name, `SYSTEM_id` or `id:SYSTEM`) and the leave date (`leaves_at`, `leave_date`,
`last_day` or `final_day`; the runbook's final_day is the latest). With `--discover`, each person without an id
in a system is looked up there by email, live and read-only: the connector's `identify` finds the account, and
the id written is one of its identifiers that the connector's own discovery then finds again. Whoever is not
found is listed, system by system; the runbook says so in a comment.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import yaml

from revoke.errors import RevokeError

LEAVE_COLUMNS = ("leaves_at", "leave_date", "last_day", "final_day", "leave_time")
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


@dataclass
class Leaver:
    name: str
    email: str
    ids: dict[str, str] = field(default_factory=dict)
    leaves: dt.date | None = None


def read_people(path: Path, systems: list[str]) -> list[Leaver]:
    """The leavers of an HR export; every problem names the file, the line and the column."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise RevokeError(f"{path}: cannot read the people CSV: {err.strerror or err}") from None
    rows = csv.DictReader(text.splitlines())
    header = {h.strip().casefold(): h for h in rows.fieldnames or []}
    if "name" not in header or "email" not in header:
        raise RevokeError(f"{path}:1: the header needs the columns name and email (it has: "
                          f"{', '.join(rows.fieldnames or []) or 'nothing'})")
    id_columns = {}
    for system in systems:
        for key in (system, f"{system}_id", f"id:{system}"):
            if key.casefold() in header:
                id_columns[system] = header[key.casefold()]
    leave = next((header[c] for c in LEAVE_COLUMNS if c in header), None)
    out: list[Leaver] = []
    for line, row in enumerate(rows, start=2):
        name, email = (row.get(header["name"]) or "").strip(), (row.get(header["email"]) or "").strip()
        if not name and not email:
            continue
        if not name or "@" not in email:
            raise RevokeError(f"{path}:{line}: each row needs a name and an email (got name {name!r}, email "
                              f"{email!r})")
        person = Leaver(name, email, {s: (row.get(c) or "").strip() for s, c in id_columns.items()
                                      if (row.get(c) or "").strip()})
        if leave and (row.get(leave) or "").strip():
            value = (row.get(leave) or "").strip()
            try:
                person.leaves = dt.date.fromisoformat(value[:10])
            except ValueError:
                raise RevokeError(f"{path}:{line}: {leave}: {value!r} is not a date (YYYY-MM-DD)") from None
        out.append(person)
    if not out:
        raise RevokeError(f"{path}: no people in the file (a header row, then one row per leaver)")
    return out


def choose_systems(spec: str | None, template: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """`--systems`: `NAME=CONNECTOR` or `CONNECTOR` items, or names of the template's systems. Answers name ->
    system spec (the template's, or one with settings from the connector's schema example)."""
    from revoke.schema import connector_classes, connector_schemas, example_settings

    have = (template or {}).get("systems") or {}
    items = [x.strip() for x in (spec or ",".join(have)).split(",") if x.strip()]
    if not items:
        raise RevokeError("no systems: give --systems (e.g. --systems corp-ldap=ldap,slack) or --systems-from")
    classes = connector_classes()
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        name, _, connector = item.partition("=")
        if not connector and name in have:
            out[name] = dict(have[name])
            continue
        connector = connector or name
        if connector not in classes:
            raise RevokeError(f"--systems {item}: no connector '{connector}' is installed (installed: "
                              f"{', '.join(classes)}" + (f"; systems of the template: {', '.join(have)}" if have
                                                         else "") + ")")
        settings, _, defs = connector_schemas(classes[connector])
        out[name] = {"connector": connector, "settings": example_settings(settings, defs)}
    return out


def candidates(identifiers: frozenset[str], email: str) -> list[str]:
    """An account's identifiers, in the order a runbook would rather name it: a login or short name, then an email,
    then a DN or ARN, then opaque ids."""
    def rank(x: str) -> tuple[int, int, str]:
        opaque = GUID.match(x) or (len(x) >= 16 and x.isalnum() and not x.isalpha())
        kind = 3 if opaque else 2 if ("=" in x or x.startswith("arn:")) else 1 if "@" in x else 0
        return (kind, len(x), x)
    return sorted((x for x in identifiers if x), key=rank) or [email]


def discover_ids(rb_path: Path, secrets_from: Path, systems: dict[str, dict[str, Any]], people: list[Leaver],
                 say: Any) -> dict[str, list[str]]:
    """Fill each person's missing ids by email, system by system, through the draft runbook `rb_path` (secrets
    read as for a runbook in `secrets_from`); answers system -> names not found."""
    from revoke.connector import RunContext, Subject
    from revoke.evidence import now
    from revoke.planner import check_runbook, load_secrets
    from revoke.runbook import load_runbook

    loaded = load_runbook(rb_path)
    setups = check_runbook(loaded)
    secrets = load_secrets(setups, runbook_dir=secrets_from)
    context = RunContext(run_id="init", started_at=now())
    missing: dict[str, list[str]] = {}
    for name in systems:
        setup = setups[name]
        todo = [p for p in people if name not in p.ids]
        if not todo:
            continue
        connector = setup.cls(name, setup.settings, secrets, context)
        try:
            connector.connect()
            found = connector.identify(sorted({p.email for p in todo}))
            options = {p.name: candidates(e.identifiers, p.email) if (e := found.get(p.email)) is not None
                       and e.type == "account" else [] for p in todo}
            for round_ in range(3):  # the preferred identifier, then the next ones for whom discovery missed
                trying = {p.name: options[p.name][round_] for p in todo
                          if len(options[p.name]) > round_ and name not in p.ids}
                if not trying:
                    break
                seen = connector.discover([Subject(person=n, ident=i, email=None) for n, i in trying.items()], [])
                failed = {n.person for n in seen.notices if n.person and n.severity == "error"}
                for p in todo:
                    if p.name in trying and p.name not in failed:
                        p.ids[name] = trying[p.name]
        except RevokeError as err:
            raise RevokeError(f"--discover: {name}: {err}") from None
        finally:
            connector.close()
        missing[name] = [p.name for p in todo if name not in p.ids]
        say(f"{name}: found {len(todo) - len(missing[name])} of {len(todo)} by email"
            + (f"; not found: {', '.join(missing[name])}" if missing[name] else ""))
    return missing


def runbook_text(engagement: str, final_day: dt.date, systems: dict[str, dict[str, Any]], people: list[Leaver],
                 protect: list[Any], missing: dict[str, list[str]], filled_in: set[str]) -> str:
    """The runbook, commented where a person has to look."""
    data: dict[str, Any] = {"engagement": engagement, "final_day": final_day, "systems": systems,
                            "people": [{"name": p.name, "email": p.email, **({"ids": p.ids} if p.ids else {})}
                                       for p in people],
                            "lists": [], "protect": protect}
    head = ["# yaml-language-server: $schema=https://revoke.dev/schema/runbook.json",
            f"# Written by `revoke init` on {dt.date.today().isoformat()}. Review it, then `revoke validate` and "
            "`revoke plan` it.",
            "# Every field: docs/runbook.md (or `revoke schema`); for editors, `revoke schema --out "
            "runbook.schema.json` and point the line above at that file."]
    for name in sorted(filled_in):
        head.append(f"# systems.{name}.settings are the connector's example: fill them in (docs/runbook.md, "
                    f"section {systems[name]['connector']}).")
    for name, who in missing.items():
        if who:
            head.append(f"# not found in {name} by email: {', '.join(who)} (add their ids.{name} by hand, or "
                        "leave them out of it)")
    dates = sorted({p.leaves for p in people if p.leaves})
    if len(dates) > 1:
        head.append("# leave dates in the CSV: " + ", ".join(f"{d} ({sum(1 for p in people if p.leaves == d)})"
                                                           for d in dates) + "; final_day is the latest")
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)
    body = body.replace("lists: []\n", "lists: []   # e.g. - {system: NAME, id: the list, group or channel to "
                        "close}\n")
    return "\n".join(head) + "\n" + body


@click.command("init")
@click.option("--people", "people_csv", type=click.Path(dir_okay=False, path_type=Path),
              help="An HR export (CSV): name, email, optionally a column per system with the id there, and the "
              "leave date (leaves_at).")
@click.option("--systems", "systems_spec", metavar="LIST", help="Comma-separated: CONNECTOR, NAME=CONNECTOR, or "
              "names of the --systems-from runbook's systems (default: all of them).")
@click.option("--systems-from", "template", type=click.Path(dir_okay=False, path_type=Path),
              help="Take the systems (settings, secrets by name) and protect entries from this runbook.")
@click.option("--discover", is_flag=True, help="Look each person up by email in each system and fill in the ids "
              "(read-only; needs working settings, e.g. from --systems-from).")
@click.option("--engagement", help="The engagement's slug (default: asked, or the CSV file's name).")
@click.option("--final-day", type=click.DateTime(formats=["%Y-%m-%d"]), help="Default: the latest leave date of "
              "the CSV.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write it (default: ENGAGEMENT.yaml here).")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
def init(people_csv: Path | None, systems_spec: str | None, template: Path | None, discover: bool,
         engagement: str | None, final_day: dt.datetime | None, out_path: Path | None, force: bool) -> None:
    """Write a starting runbook from an HR export of the leavers and the systems they are in.

    \b
    revoke init --people leavers.csv --systems corp-ldap=ldap,slack
    revoke init --people leavers.csv --systems-from last-engagement.yaml --discover
    On a terminal, whatever is missing is asked for; otherwise give it as flags.

    With --discover, each person is looked up by email in each system (read-only) and the id found is
    written; who is not found is listed, and said in the runbook.
    """
    interactive = sys.stdin.isatty()
    say = click.echo
    if people_csv is None:
        if not interactive:
            raise click.UsageError("--people CSV is needed (name, email, ...), or run it on a terminal")
        people_csv = Path(click.prompt("HR export of the leavers (CSV: name, email, ...)"))
    template_data = _read_template(template)
    if systems_spec is None and template_data is None:
        from revoke.schema import connector_classes

        if not interactive:
            raise click.UsageError("--systems is needed (e.g. --systems corp-ldap=ldap,slack), or --systems-from")
        systems_spec = click.prompt("Systems (comma-separated; installed connectors: "
                                    f"{', '.join(connector_classes())})")
    systems = choose_systems(systems_spec, template_data)
    people = read_people(people_csv, list(systems))
    engagement, day = _engagement_and_day(engagement, final_day, people_csv, people, interactive)
    out_path = out_path or Path(f"{engagement}.yaml")
    if out_path.exists() and not force:
        raise RevokeError(f"{out_path} exists; choose another --out, or --force to overwrite it")
    protect = [p for p in (template_data or {}).get("protect") or []
               if not isinstance(p, dict) or p.get("system") in (None, *systems)]
    filled_in = {n for n, s in systems.items() if template_data is None or n not in (template_data.get("systems")
                                                                                    or {})}
    if interactive and not discover and not filled_in and people:
        discover = click.confirm("Look the people up by email in these systems now (read-only)?", default=True)
    missing: dict[str, list[str]] = {}
    out_path.write_text(runbook_text(engagement, day, systems, people, protect, {}, filled_in), encoding="utf-8")
    if discover:
        if filled_in:
            raise RevokeError(f"--discover needs working settings for {', '.join(sorted(filled_in))}: take them "
                              "from a runbook (--systems-from) or fill them in and run `revoke plan`")
        secrets_from = template.parent if template else out_path.parent
        missing = discover_ids(out_path, secrets_from, systems, people, say)
        out_path.write_text(runbook_text(engagement, day, systems, people, protect, missing, filled_in),
                            encoding="utf-8")
    not_found = sorted({n for who in missing.values() for n in who})
    say(f"wrote {out_path}: {len(people)} {'person' if len(people) == 1 else 'people'}, {len(systems)} "
        f"system(s)" + (f"; not found somewhere: {', '.join(not_found)}" if not_found else "")
        + f"; next: `revoke validate {out_path}`")


def _engagement_and_day(engagement: str | None, final_day: dt.datetime | None, people_csv: Path,
                        people: list[Leaver], interactive: bool) -> tuple[str, dt.date]:
    """The engagement's slug (default: the CSV file's name) and final day (default: the latest leave date in the
    CSV), asked for on a terminal when there is no default."""
    from revoke.runbook import NAME

    if engagement is None:
        guess = re.sub(r"[^A-Za-z0-9_.-]+", "-", people_csv.stem).strip("-") or "engagement"
        engagement = click.prompt("Engagement slug", default=guess) if interactive else guess
    if not re.match(NAME, engagement):
        raise RevokeError(f"--engagement {engagement!r}: letters, digits, '_', '.' and '-' only (e.g. acme-2026)")
    day = final_day.date() if final_day else max((p.leaves for p in people if p.leaves), default=None)
    if day is None:
        if not interactive:
            raise click.UsageError("--final-day is needed: the CSV has no leave dates")
        day = click.prompt("Final day (YYYY-MM-DD)", type=click.DateTime(formats=["%Y-%m-%d"])).date()
    return engagement, day


def _read_template(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    from revoke.runbook import load_runbook

    loaded = load_runbook(path)  # a template with mistakes is reported as any runbook is, located
    return {"systems": {n: s.model_dump(exclude_defaults=True) | {"connector": s.connector}
                        for n, s in loaded.runbook.systems.items()},
            "protect": [p.model_dump(exclude_none=True) for p in loaded.runbook.protect]}
