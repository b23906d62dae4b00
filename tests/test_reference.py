"""The runbook reference is generated from the code: `revoke schema`, docs/runbook.md, and the example runbooks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from revoke.reference import markdown
from revoke.schema import example_settings
from tests.conftest import write_runbook, yesterday

ROOT = Path(__file__).parents[1]
DOC = ROOT / "docs" / "runbook.md"


def _schema(run_cli: Any) -> dict[str, Any]:
    result = run_cli("schema")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.output)


def test_docs_runbook_md_is_what_the_models_generate() -> None:
    assert DOC.read_text() == markdown(), (
        "docs/runbook.md is stale: regenerate it with `revoke schema --markdown --out docs/runbook.md`")


def test_a_runbook_for_each_connector_written_from_the_schema_alone_validates(tmp_path: Path, run_cli: Any) -> None:
    """What a new user does with an editor and `revoke schema`: for every connector the schema lists, settings
    taken from the schema's own examples, a list with its options; `revoke validate` accepts the runbook."""
    schema = _schema(run_cli)
    defs = schema["$defs"]
    connectors = defs["SystemSpec"]["properties"]["connector"]["enum"]
    assert {"ldap", "active-directory", "aws-iam", "entra", "m365-groups", "slack", "github"} <= set(connectors)
    for name in connectors:
        settings = example_settings(defs[f"{name}.Settings"], defs)
        data: dict[str, Any] = {"engagement": "acme-2026", "final_day": yesterday(),
                                "systems": {"sys": {"connector": name, "settings": settings}},
                                "people": [{"name": "Alice Example", "email": "alice@example.org",
                                            "ids": {"sys": "alice"}}]}
        options = schema["x-revoke-list-options"].get(name)
        if options is not None:
            target = defs[options["$ref"].split("/")[-1]]
            data["lists"] = [{"system": "sys", "id": "acme-list", "options": example_settings(target, defs)}]
        jsonschema.validate(data, schema)  # what an editor checks
        runbook = write_runbook(tmp_path / f"{name}.yaml", data)
        result = run_cli("validate", "--offline", str(runbook))
        assert result.exit_code == 0, f"{name}: {result.stderr}"


def test_the_schema_refuses_what_validate_refuses(run_cli: Any) -> None:
    schema = _schema(run_cli)
    bad = {"engagement": "acme-2026", "final_day": "2026-11-30", "people": [{"name": "A", "ids": {"x": "a"}}],
           "systems": {"x": {"connector": "ldap", "settings": {"url": "ldaps://h", "bind_dn": "cn=x",
                                                                 "bind_password": {"secret": "p"}, "base_dn": "dc=x",
                                                                 "base_dnn": "typo"}}}}
    with pytest.raises(jsonschema.ValidationError, match="base_dnn"):
        jsonschema.validate(bad, schema)


@pytest.mark.parametrize("example", sorted((ROOT / "runbooks").glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_runbook_meets_the_schema_and_starts_with_its_modeline(example: Path, run_cli: Any) -> None:
    schema = _schema(run_cli)
    text = example.read_text()
    assert text.startswith("# yaml-language-server: $schema="), f"{example.name}: no schema line for editors"
    # an editor's YAML reads 2026-11-30 as a string, as the schema's date format expects
    jsonschema.validate(json.loads(json.dumps(yaml.safe_load(text), default=str)), schema)


def test_each_connector_has_its_section_and_messages_point_there(tmp_path: Path, run_cli: Any) -> None:
    text = DOC.read_text()
    for name in _schema(run_cli)["$defs"]["SystemSpec"]["properties"]["connector"]["enum"]:
        assert f"### {name}\n" in text
    runbook = write_runbook(tmp_path / "r.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(), "colour": "blue",
        "systems": {"s": {"connector": "slack", "settings": {"token": {"secret": "t"}, "base_urll": "x"}}},
        "people": [{"name": "A", "ids": {"s": "U1"}}]})
    said = run_cli("validate", "--offline", str(runbook)).stderr
    assert said.count("docs/runbook.md") == 2 and "section slack" in said and "base_url" in said


def test_schema_out_writes_the_file_an_editor_reads(tmp_path: Path, run_cli: Any) -> None:
    out = tmp_path / "runbook.schema.json"
    result = run_cli("schema", "--out", str(out))
    assert result.exit_code == 0 and "yaml-language-server: $schema=runbook.schema.json" in result.output
    assert json.loads(out.read_text())["$schema"].startswith("https://json-schema.org/draft/2020-12")
    one = json.loads(run_cli("schema", "--connector", "slack").output)
    assert "channel_prefix" in one["settings"]["properties"]


@pytest.mark.parametrize("example", sorted((ROOT / "runbooks").glob("example-*.yaml")), ids=lambda p: p.name)
def test_every_setting_of_the_connector_is_shown_in_its_example(example: Path) -> None:
    """A new user finds every setting in the example runbook of their connector, set or commented out
    (`# endpoint_url: ...`), not only in the source."""
    import re

    from revoke.schema import connector_classes

    classes = connector_classes()
    text = example.read_text()
    for spec in yaml.safe_load(text)["systems"].values():
        fields = classes[spec["connector"]].Settings.model_fields
        missing = [f for f in fields if not re.search(rf"(^|\s|#\s*){f}:", text, re.MULTILINE)]
        assert not missing, f"{example.name}: settings of {spec['connector']} not shown: {missing}"


def test_the_committed_schema_file_is_what_revoke_schema_prints(run_cli: Any) -> None:
    assert (ROOT / "docs" / "runbook.schema.json").read_text() == run_cli("schema").output, (
        "docs/runbook.schema.json is stale: `revoke schema --out docs/runbook.schema.json`")
