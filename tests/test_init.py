"""`revoke init` writes a starting runbook from an HR export; with --discover it finds the people by email."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.demo_env import DemoWorld

PEOPLE = [(f"Person {i:02d}", f"p{i:02d}", f"p{i:02d}@consult.example") for i in range(1, 21)]


def _seed(world: DemoWorld, absent_in_entra: set[str]) -> None:
    ldap, slack, graph = (world.sandbox.running[k] for k in ("ldap", "slack", "graph"))
    for name, short, email in PEOPLE:
        ldap.add_user(short, mail=email)
        slack.add_user(short, email)
        if short not in absent_in_entra:
            graph.add_user(email, name)


def test_init_from_a_csv_of_20_people_against_the_demo_sandbox_plans_all_20(demo_sandbox: DemoWorld) -> None:
    world = demo_sandbox
    _seed(world, absent_in_entra={"p19", "p20"})
    csv = world.workdir / "leavers.csv"
    csv.write_text("name,email,leaves_at\n" + "".join(f"{n},{e},2026-12-{1 + i % 3:02d}\n"
                                                     for i, (n, _, e) in enumerate(PEOPLE)))
    code = world.revoke("init", "--people", str(csv), "--systems-from", "acme-2026.yaml",
                        "--systems", "corp-ldap,slack,entra", "--discover", "--engagement", "leavers-2026",
                        "--out", "leavers.yaml")
    said = world.output[-1]
    assert code == 0, said
    assert "corp-ldap: found 20 of 20" in said and "slack: found 20 of 20" in said
    assert "entra: found 18 of 20 by email; not found: Person 19, Person 20" in said
    text = (world.workdir / "leavers.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    assert "# not found in entra by email: Person 19, Person 20" in text
    data = yaml.safe_load(text)
    assert str(data["final_day"]) == "2026-12-03" and set(data["systems"]) == {"corp-ldap", "slack", "entra"}
    by_name = {p["name"]: p for p in data["people"]}
    assert by_name["Person 01"]["ids"]["corp-ldap"] == "p01"
    assert "entra" not in by_name["Person 20"]["ids"]
    assert data["protect"] == [{"id": "dave", "system": "corp-ldap"}]  # the template's protections come along

    assert world.revoke("validate", "leavers.yaml") == 0, world.output[-1]
    code = world.revoke("plan", "leavers.yaml")
    plan = world.output[-1]
    assert code == 2, plan
    for name, _, _ in PEOPLE:
        assert f"\n  {name}\n" in plan, f"{name} is not in the plan"
    assert not re.search(r"no (LDAP entry|Slack user|Entra ID user)", plan), plan


def test_init_without_a_terminal_asks_for_flags_and_names_bad_rows(tmp_path: Path, run_cli: Any) -> None:
    result = run_cli("init", "--people", str(tmp_path / "x.csv"))
    assert result.exit_code == 2 and "--systems" in result.output + result.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("name,email\nAlice,alice@example.org\nBob,not-an-email\n")
    result = run_cli("init", "--people", str(bad), "--systems", "slack", "--final-day", "2026-11-30",
                     "--out", str(tmp_path / "r.yaml"))
    assert result.exit_code == 1 and f"{bad}:3: each row needs a name and an email" in result.stderr


def test_init_with_connectors_only_writes_their_example_settings_to_fill_in(tmp_path: Path, run_cli: Any) -> None:
    people = tmp_path / "hr.csv"
    people.write_text("Name,Email,corp-ldap\nAlice Example,alice@example.org,alice\n")
    out = tmp_path / "acme.yaml"
    result = run_cli("init", "--people", str(people), "--systems", "corp-ldap=ldap,slack", "--engagement",
                     "acme-2026", "--final-day", "2026-11-30", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    text = out.read_text()
    assert "# systems.corp-ldap.settings are the connector's example: fill them in" in text
    data = yaml.safe_load(text)
    assert data["people"] == [{"name": "Alice Example", "email": "alice@example.org", "ids": {"corp-ldap": "alice"}}]
    assert run_cli("validate", "--offline", str(out)).exit_code == 0
    again = run_cli("init", "--people", str(people), "--systems", "slack", "--final-day", "2026-11-30", "--out",
                    str(out))
    assert again.exit_code == 1 and "exists" in again.stderr
