"""OSCAL export (issue 18): `revoke evidence export DIR --format oscal` writes an OSCAL 1.1 assessment-results
document that validates against NIST's published JSON schema for assessment-results, with an observation per
action and AC-2 / PS-4 findings satisfied only when every action they cover was done and proven.

tests/data/oscal_assessment-results_schema-1.1.3.json is NIST's released schema for OSCAL 1.1.3 (its `$id` is
http://csrc.nist.gov/ns/oscal/1.1.3/oscal-ar-schema.json), as compliance-trestle keeps it in release-schemas/
(commit ffc17c31, "upgrade to OSCAL 1.1.3"); SHA-256 below, checked so an edit to the file cannot pass silently."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import regex

SCHEMA = Path(__file__).parent / "data" / "oscal_assessment-results_schema-1.1.3.json"
SCHEMA_SHA256 = "d9e34757f0c12aff61f52b821f0b8f83ba0ba75b3a149a202b08ba82f82bc4c3"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256
    schema = json.loads(SCHEMA.read_text())
    assert schema["$id"] == "http://csrc.nist.gov/ns/oscal/1.1.3/oscal-ar-schema.json"
    # OSCAL's patterns use Unicode classes (\p{L}) that Python's re lacks: `pattern` through the regex package
    def pattern(validator: Any, expected: str, instance: Any, _schema: Any) -> Any:
        if validator.is_type(instance, "string") and not regex.search(expected, instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {expected!r}")

    oscal = jsonschema.validators.extend(jsonschema.Draft7Validator, {"pattern": pattern})
    return oscal(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def exported(run_cli: Any, runbook: Path, tmp_path: Path) -> dict[str, Any]:
    result = run_cli("--quiet", "--output", "json", "apply", str(runbook), "--yes")
    run_dir = Path(json.loads(result.output)["run_dir"])
    out = tmp_path / "sar.json"
    done = run_cli("evidence", "export", str(run_dir), "--format", "oscal", "--out", str(out))
    assert done.exit_code == 0, done.stderr
    return json.loads(out.read_text())


def test_the_export_validates_against_nists_schema(engagement: dict, run_cli: Any, tmp_path: Path,
                                                   validator: jsonschema.Draft7Validator) -> None:
    doc = exported(run_cli, engagement["runbook"], tmp_path)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])
    [result] = doc["assessment-results"]["results"]
    assert len(result["observations"]) >= 5 and all(o["relevant-evidence"][0]["href"].startswith(
        "evidence.jsonl#seq=") for o in result["observations"])
    findings = {f["target"]["target-id"]: f for f in result["findings"]}
    assert set(findings) == {"ac-2_obj", "ps-4_obj"}
    assert findings["ac-2_obj"]["target"]["status"]["state"] == "satisfied", findings["ac-2_obj"]


def test_a_late_removal_leaves_ps4_not_satisfied(engagement: dict, run_cli: Any, tmp_path: Path,
                                                 validator: jsonschema.Draft7Validator) -> None:
    import yaml

    data = yaml.safe_load(engagement["runbook"].read_text())
    data["sla"] = "1h"
    data["people"][0]["leaves_at"] = "2020-01-01T09:00:00Z"
    engagement["runbook"].write_text(yaml.safe_dump(data, sort_keys=False))
    doc = exported(run_cli, engagement["runbook"], tmp_path)
    assert not list(validator.iter_errors(doc))
    findings = {f["target"]["target-id"]: f for f in doc["assessment-results"]["results"][0]["findings"]}
    assert findings["ps-4_obj"]["target"]["status"]["state"] == "not-satisfied"
    assert "after the SLA" in findings["ps-4_obj"]["description"]


def test_the_schema_rejects_what_it_should(validator: jsonschema.Draft7Validator) -> None:
    """The validator is not vacuous: a result without reviewed-controls is refused."""
    doc = {"assessment-results": {"uuid": "6f1c4c0e-5d1a-4a53-9f0e-2f6a3c1b7d21", "metadata": {
        "title": "t", "last-modified": "2026-12-02T10:00:00Z", "version": "1", "oscal-version": "1.1.3"},
        "import-ap": {"href": "plan.json"}, "results": [{"uuid": "6f1c4c0e-5d1a-4a53-9f0e-2f6a3c1b7d21",
                                                         "title": "t", "description": "d",
                                                         "start": "2026-12-02T10:00:00Z"}]}}
    assert any("reviewed-controls" in e.message for e in validator.iter_errors(doc))
