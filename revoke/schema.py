"""The runbook's reference, generated from the code: a JSON Schema (`revoke schema`) and docs/runbook.md.

Both are built from the same pydantic models the runbook is validated with: `revoke.runbook.Runbook` for the
runbook itself and, for every installed connector, its `Settings` model and its list options (a `ListOptions`
model on the connector class, or an `options` model on its action kinds). A connector installed later appears in
both without any change here. Descriptions and examples come from the models' `Field(description=...,
examples=[...])` and a settings model's `json_schema_extra={"examples": [...]}` (a complete example).

Editors complete and check a runbook that starts with
`# yaml-language-server: $schema=<path or URL of the schema>` (the YAML language server of VS Code, Neovim,
JetBrains and others reads that line); `revoke schema --out runbook.schema.json` writes the file to point at.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import BaseModel

from revoke.runbook import Runbook

SCHEMA_ID = "https://revoke.dev/schema/runbook.json"  # a name for the document; the file is what editors read
MODELINE = "# yaml-language-server: $schema="


def connector_classes() -> dict[str, Any]:
    """Every installed connector that loads, by name (one that does not is left out of the reference)."""
    from revoke.connector import installed

    out: dict[str, Any] = {}
    for name, ep in sorted(installed().items()):
        try:
            out[name] = ep.load()
        except Exception as err:  # noqa: BLE001 - a broken plugin must not hide the others' reference
            logging.getLogger("revoke.schema").warning("connector %s left out of the reference: %s", name, err)
    return out


def list_options_model(cls: Any) -> type[BaseModel] | None:
    """The model of a connector's list `options:`: `cls.ListOptions`, else the `options` models its kinds declare,
    merged (the first declaration of a field wins). None for a connector that closes no lists."""
    if not any(getattr(k, "item", None) == "lists" for k in getattr(cls, "kinds", ())):
        return None
    own = getattr(cls, "ListOptions", None)
    if isinstance(own, type) and issubclass(own, BaseModel):
        return own
    models = [m for k in getattr(cls, "kinds", ()) for m in (getattr(k, "options", None), getattr(k, "Options", None))
              if isinstance(m, type) and issubclass(m, BaseModel)]
    if not models:
        return None
    if len(models) == 1:
        return models[0]
    from pydantic import create_model

    fields: dict[str, Any] = {}
    for m in models:
        for name, info in m.model_fields.items():
            fields.setdefault(name, (info.annotation, info))
    return create_model(f"{cls.name.title().replace('-', '')}ListOptions", **fields)


def _namespaced(schema: dict[str, Any], prefix: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A model's schema with its `$defs` renamed `prefix.Name`, so two connectors' models never collide."""
    defs = schema.pop("$defs", {})
    text = json.dumps(schema)
    defs_text = json.dumps(defs)
    for name in defs:
        for_ref = f'"#/$defs/{name}"'
        text = text.replace(for_ref, f'"#/$defs/{prefix}.{name}"')
        defs_text = defs_text.replace(for_ref, f'"#/$defs/{prefix}.{name}"')
    return json.loads(text), {f"{prefix}.{k}": v for k, v in json.loads(defs_text).items()}


def connector_schemas(cls: Any) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any]]:
    """(settings schema, list options schema or None, their $defs) of one connector."""
    defs: dict[str, Any] = {}
    settings, more = _namespaced(cls.Settings.model_json_schema(), cls.name)
    defs.update(more)
    options_model = list_options_model(cls)
    options = None
    if options_model is not None:
        options, more = _namespaced(options_model.model_json_schema(), cls.name)
        defs.update(more)
    return settings, options, defs


def runbook_schema(classes: dict[str, Any] | None = None) -> dict[str, Any]:
    """The runbook's JSON Schema (draft 2020-12) with every installed connector's settings: a system's
    `settings:` are checked against the model of the connector it names."""
    classes = connector_classes() if classes is None else classes
    schema = Runbook.model_json_schema()
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    variants = []
    options_by_connector: dict[str, Any] = {}
    for name, cls in classes.items():
        settings, options, more = connector_schemas(cls)
        defs.update(more)
        defs[f"{name}.Settings"] = settings
        variants.append({"if": {"properties": {"connector": {"const": name}}, "required": ["connector"]},
                         "then": {"properties": {"settings": {"$ref": f"#/$defs/{name}.Settings"}}}})
        if options is not None:
            defs[f"{name}.ListOptions"] = options
            options_by_connector[name] = {"$ref": f"#/$defs/{name}.ListOptions"}
    # the shorthands the runbook's validators accept: `protect: [dave]`, `checklist: Page.md`
    props = schema["properties"]
    props["protect"]["items"] = {"anyOf": [{"type": "string"}, props["protect"]["items"]]}
    props["checklist"]["anyOf"].insert(0, {"type": "string"})
    system = defs["SystemSpec"]
    system["properties"]["connector"] = {**system["properties"]["connector"], "enum": sorted(classes)} \
        if classes else system["properties"]["connector"]
    system["allOf"] = variants
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    # a list's options depend on the connector of the system it names, which only the runbook knows: they are
    # listed here per connector, and checked by `revoke validate`
    schema["x-revoke-list-options"] = options_by_connector
    return schema


def schema_text(classes: dict[str, Any] | None = None) -> str:
    return json.dumps(runbook_schema(classes), indent=2, sort_keys=False) + "\n"


def example_settings(settings_schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A connector's settings written from its schema alone: the model's own complete example when it has one,
    else every required field from its examples (or a value of its type)."""
    examples = settings_schema.get("examples")
    if examples:
        return dict(examples[0])
    out: dict[str, Any] = {}
    for name in settings_schema.get("required", []):
        out[name] = _value(settings_schema["properties"][name], defs)
    return out


def _value(prop: dict[str, Any], defs: dict[str, Any]) -> Any:
    if prop.get("examples"):
        return prop["examples"][0]
    if "$ref" in prop:
        target = defs[prop["$ref"].split("/")[-1]]
        return example_settings(target, defs) if target.get("type") == "object" else _value(target, defs)
    for option in prop.get("anyOf", []):
        if option.get("type") != "null":
            return _value(option, defs)
    kind = prop.get("type")
    if "enum" in prop:
        return prop["enum"][0]
    return {"string": "example", "integer": 1, "number": 1.0, "boolean": True, "array": [], "object": {}}.get(
        str(kind), "example")
