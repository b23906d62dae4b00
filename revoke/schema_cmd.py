"""`revoke schema`: the runbook's reference, printed from the models the runbook is validated with."""

from __future__ import annotations

import json
from pathlib import Path

import click

from revoke.errors import RevokeError


@click.command("schema")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write it to this file instead of printing it.")
@click.option("--markdown", is_flag=True, help="The reference as Markdown (what docs/runbook.md holds).")
@click.option("--connector", "connector", metavar="NAME", help="Only this connector's settings and list options.")
def schema(out_path: Path | None, markdown: bool, connector: str | None) -> None:
    """Print the runbook's JSON Schema: every field, with every installed connector's settings and list options.

    \b
    Editors check and complete a runbook that starts with this line (the YAML language server: VS Code's YAML
    extension, Neovim, JetBrains):
        # yaml-language-server: $schema=runbook.schema.json
    after `revoke schema --out runbook.schema.json` beside it. The same reference in prose is docs/runbook.md
    (`revoke schema --markdown`).
    """
    from revoke.schema import connector_classes, connector_schemas, schema_text

    if connector is not None:
        classes = connector_classes()
        if connector not in classes:
            raise RevokeError(f"no connector named '{connector}' is installed (installed: {', '.join(classes)})")
        settings, options, defs = connector_schemas(classes[connector])
        text = json.dumps({"connector": connector, "settings": settings, "list_options": options, "$defs": defs},
                          indent=2) + "\n"
    elif markdown:
        from revoke.reference import markdown as reference

        text = reference()
    else:
        text = schema_text()
    if out_path is None:
        click.echo(text, nl=False)
        return
    out_path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {out_path}" + ("" if markdown else f"; start a runbook with `# yaml-language-server: "
                                       f"$schema={out_path.name}` to have editors check it"))
