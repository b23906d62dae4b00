"""docs/runbook.md, generated from the same models as `revoke schema` (see `revoke.schema`).

`revoke schema --markdown > docs/runbook.md` writes it; tests/test_reference.py fails when the file in the
repository is not what the installed models generate.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from revoke.schema import connector_classes, connector_schemas, example_settings, runbook_schema

INTRO = """# The runbook reference

Generated from the code by `revoke schema --markdown` (do not edit by hand: `tests/test_reference.py` fails when
this file is stale). `revoke schema` prints the same as a JSON Schema; start a runbook with

```yaml
# yaml-language-server: $schema=runbook.schema.json
```

after `revoke schema --out runbook.schema.json`, and editors with the YAML language server (VS Code's YAML
extension, Neovim, JetBrains) complete and check every field below, connector settings included. `revoke
validate RUNBOOK` checks all of it too, with the file, line and field of each mistake.

Secrets are never written in a runbook: a secret setting is `{secret: NAME}`, and its value comes from the
environment (`REVOKE_NAME`), the `.env` file beside the runbook or in the current directory, or the file `NAME` in
`$REVOKE_SECRETS_DIR`.
"""

SECTIONS = [("Runbook", "The runbook", "The top level of the file."),
            ("SystemSpec", "systems.NAME", "One system the leavers have access to; NAME is yours (`corp-ldap`)."),
            ("PersonSpec", "people[]", "One person who leaves."),
            ("ListSpec", "lists[]", "A list, group or channel to close."),
            ("ProtectSpec", "protect[]", "An account never acted on (also as a plain string: the id)."),
            ("ChecklistSpec", "checklist", "The wiki page revoke reports to (also as a plain string: the page)."),
            ("ApprovalsSpec", "approvals", "The two-person rule.")]


def type_of(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        name = prop["$ref"].split("/")[-1].split(".")[-1]
        return "{secret: NAME}" if name == "SecretRef" else name
    if "const" in prop:
        return json.dumps(prop["const"])
    if "enum" in prop:
        return " | ".join(json.dumps(v) for v in prop["enum"])
    if "anyOf" in prop:
        return " or ".join(type_of(p) for p in prop["anyOf"] if p.get("type") != "null") + \
            (" or null" if any(p.get("type") == "null" for p in prop["anyOf"]) else "")
    kind = prop.get("type", "any")
    if prop.get("format") == "date":
        return "date (YYYY-MM-DD)"
    if kind == "array":
        return f"list of {type_of(prop.get('items', {}))}"
    if kind == "object" and isinstance(prop.get("additionalProperties"), dict):
        return f"mapping to {type_of(prop['additionalProperties'])}"
    return str(kind)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def fields_table(model: dict[str, Any]) -> list[str]:
    required = set(model.get("required", []))
    rows = ["| field | type | default | what it is |", "| --- | --- | --- | --- |"]
    for name, prop in model.get("properties", {}).items():
        default = "required" if name in required else json.dumps(prop["default"]) if "default" in prop else ""
        what = prop.get("description", "")
        if prop.get("examples"):
            sep = ". " if what and not what.endswith(".") else " " if what else ""
            what += sep + "Example: " + ", ".join(f"`{json.dumps(e)}`" for e in prop["examples"])
        rows.append(f"| `{name}` | {_cell(type_of(prop))} | {_cell(default)} | {_cell(what)} |")
    return rows


def markdown() -> str:
    classes = connector_classes()
    schema = runbook_schema(classes)
    defs = schema["$defs"]
    out = [INTRO]
    for key, title, what in SECTIONS:
        model = schema if key == "Runbook" else defs[key]
        out += [f"## {title}", "", what + (" " + model["description"] if model.get("description") else ""), ""]
        out += fields_table(model) + [""]
    out += ["## Connectors", "", "Installed here: " + ", ".join(f"[`{n}`](#{n})" for n in classes) + ". "
            "`revoke connectors` lists them; `revoke permissions RUNBOOK` prints what each needs.", ""]
    for name, cls in classes.items():
        out += connector_section(name, cls)
    return "\n".join(out).rstrip() + "\n"


def connector_section(name: str, cls: Any) -> list[str]:
    settings, options, defs = connector_schemas(cls)
    doc = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    out = [f"### {name}", "", doc, "", f"`systems.NAME.settings` of `connector: {name}`:", ""]
    out += fields_table(settings) + [""]
    example = {"connector": name, "settings": example_settings(settings, defs)}
    out += ["For example:", "", "```yaml", "systems:",
            *("  " + line for line in yaml.safe_dump({f"my-{name}": example}, sort_keys=False).splitlines()),
            "```", ""]
    if options is not None:
        out += [f"`lists[].options` of a `{name}` system:", ""] + fields_table(options) + [""]
    out += ["What it does (`revoke permissions` prints each kind's provider permissions):", "",
            "| action | plan line | checklist item | restorable |", "| --- | --- | --- | --- |"]
    for kind in cls.kinds:
        item = "3 (access)" if kind.item == "access" else "4 (lists)"
        restorable = "yes" if kind.restorable else f"no: {kind.restore_note}" if kind.restore_note else "no"
        out.append(f"| `{kind.name}` | {_cell(kind.summary)} | {item} | {_cell(restorable)} |")
    return out + [""]
