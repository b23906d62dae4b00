"""`revoke evidence verify|export`, `revoke connectors` and `revoke permissions`: reading what a run left and
what the installed connectors are and need."""

from __future__ import annotations

import json
from pathlib import Path

import click

from revoke.console import Context, out
from revoke.errors import RevokeError


@click.group()
def evidence() -> None:
    """Check a run's evidence."""


@evidence.command("verify")
@click.argument("run_dir", metavar="RUN_DIR")
@click.option("--allowed-signers", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="git's allowed_signers file: the run must be signed by a key it names (the signer is shown).")
@click.option("--tsa-ca", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="The timestamp authority's CA certificate(s), PEM: checks the run's RFC 3161 token.")
@click.pass_obj
def evidence_verify(obj: Context, run_dir: str, allowed_signers: Path | None, tsa_ca: Path | None) -> None:
    """Recompute the hash chain and every file hash of a run folder; exit 1 on any difference.

    RUN_DIR is a folder or, for a run in an S3 evidence store, s3://BUCKET/PREFIX/RUN_ID.

    \b
    The chain alone catches accidents, not a rewrite (anyone with the files can recompute every hash). With
    --allowed-signers the sealed run must carry a signature (`revoke apply --signing-key`) by a key that file
    names; with --tsa-ca its trusted timestamp is checked too. Outside revoke, in the run folder:
      ssh-keygen -Y verify -f allowed_signers -I SIGNER -n revoke-evidence -s seal.sha256.sig < seal.sha256 \\
        && sha256sum -c seal.sha256
    """
    from revoke.errors import EvidenceInvalid
    from revoke.evidence import verify_run

    if run_dir.startswith("s3://"):
        from revoke.scheduler.verify import verify_s3

        line = verify_s3(run_dir)
        out.print(line, markup=False)
        return
    folder = Path(run_dir)
    if not folder.is_dir():
        raise RevokeError(f"{folder}: no such folder; give a run folder, e.g. evidence/<run-id>/ "
                          "(`ls evidence/` beside the runbook lists them)")
    if not any((folder / name).exists() for name in ("evidence.jsonl", "manifest.json", "plan.json")):
        raise RevokeError(f"{folder}: not a revoke run folder (no evidence.jsonl, manifest or plan); give a run "
                          "folder, e.g. evidence/<run-id>/")
    report = verify_run(folder, allowed_signers=allowed_signers, tsa_ca=tsa_ca)
    if not report.ok:
        raise EvidenceInvalid([f"{run_dir}: evidence does NOT verify:"] + [f"  {p}" for p in report.problems])
    out.print(f"{run_dir}: verified: {report.records} records in an unbroken chain, {report.files} files "
              "match the manifest and the seal", markup=False)
    if report.signer:
        out.print(f"signed by {report.signer} (a key {allowed_signers} names)", markup=False)
    elif report.signed:
        out.print("signed, but the signer was not checked: give --allowed-signers", markup=False)
    if report.timestamp:
        out.print(f"timestamped {report.timestamp} by the timestamp authority"
                  + ("" if tsa_ca else " (its signature not checked: give --tsa-ca)"), markup=False)


@evidence.command("export")
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["oscal", "pdf"]), default="oscal", show_default=True,
              help="oscal: an OSCAL 1.1 assessment-results document (JSON); pdf: the closure report printed on A4 "
              "by headless Chromium (needs --out).")
@click.option("--out", "out_path", type=click.Path(path_type=Path), help="Write it here (default: standard output; "
              "not into the run folder, which is sealed).")
@click.pass_obj
def evidence_export(obj: Context, run_dir: Path, fmt: str, out_path: Path | None) -> None:
    """Export a run's evidence for a GRC tool: observations per action (with the evidence record and when it was
    collected) and findings for NIST SP 800-53 AC-2 and PS-4, satisfied or not."""
    if fmt == "pdf":
        from revoke.pdf import html_to_pdf

        if out_path is None:
            raise click.UsageError("--format pdf needs --out FILE.pdf")
        html_to_pdf(run_dir / "closure-report.html", out_path)
        obj.say(f"Wrote {out_path} (the closure report, A4).")
        return
    from revoke.oscal import export

    # one line: a run of thousands of actions exports in a fraction of a second (pretty-print it with jq)
    text = json.dumps(export(run_dir), ensure_ascii=False, separators=(",", ":")) + "\n"
    if out_path is None:
        click.echo(text, nl=False)
    else:
        out_path.write_text(text, encoding="utf-8")
        obj.say(f"Wrote {out_path} (OSCAL assessment-results).")


@click.command()
@click.pass_obj
def connectors(obj: Context) -> None:
    """List installed connector plugins (built-in and third-party) with their actions and versions."""
    from importlib.metadata import PackageNotFoundError

    from revoke.connector import installed

    rows = []
    for name, ep in sorted(installed().items()):
        dist = ep.dist.name if ep.dist else "?"
        try:
            cls = ep.load()
            kinds = ", ".join(k.name for k in cls.kinds)
            rows.append({"name": name, "package": dist, "version": getattr(cls, "version", "?"), "actions": kinds})
        except (ImportError, AttributeError, PackageNotFoundError) as e:
            rows.append({"name": name, "package": dist, "version": "?", "actions": f"cannot load: {e}"})
    if obj.output == "json":
        click.echo(json.dumps(rows, indent=1))
        return
    for r in rows:
        out.print(f"{r['name']:<22} {r['package']} {r['version']:<6} {r['actions']}", markup=False)


@click.command()
@click.argument("runbook", type=click.Path(path_type=Path))
@click.pass_obj
def permissions(obj: Context, runbook: Path) -> None:
    """Print the least privilege each system's connector needs for this runbook.

    Derived from the action registry the engine uses (IAM policy JSON for AWS, Graph application permissions,
    Slack scopes, LDAP ACLs), never written by hand.
    """
    from revoke.engine import check_runbook
    from revoke.runbook import load_runbook

    loaded = load_runbook(runbook)
    docs = {}
    for name, setup in check_runbook(loaded).items():
        docs[name] = {"connector": setup.cls.name, "format": setup.cls.permission_format,
                      "document": setup.cls.permissions_document(setup.cls.kinds)}
    if obj.output == "json":
        click.echo(json.dumps(docs, indent=1))
        return
    for name, d in docs.items():
        out.print(f"# {name} ({d['connector']}, {d['format']})", markup=False)
        out.print(d["document"], markup=False)
        out.print()


COMMANDS = [evidence, connectors, permissions]
