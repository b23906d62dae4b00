"""Lists named as users think of them: an m365 group or a Slack channel by its display name, when unique. A name
several share is an error that lists the candidates; nothing is closed on a guess."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from revoke.sandbox.graph import GraphFake

from tests.conftest import write_runbook, yesterday
from tests.graph_env import graph, graph_app, graph_system  # noqa: F401


def _m365_runbook(tmp_path: Path, fake: GraphFake, app: str, list_id: str) -> Path:
    return write_runbook(tmp_path / "acme.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(),
        "systems": {"m365": graph_system(fake, app, connector="m365-groups")},
        "people": [{"name": "Ann", "ids": {"m365": "ann@contoso.test"}}],
        "lists": [{"system": "m365", "id": list_id, "close": "delete"}]})


def test_an_m365_list_by_its_display_name_is_closed(graph: GraphFake, graph_app: tuple[str, str],  # noqa: F811
                                                    tmp_path: Path, run_cli: Any) -> None:
    ann, carl = graph.add_user("ann@contoso.test"), graph.add_user("carl@contoso.test")
    gid = graph.add_group("Acme list", kind="m365", mail="acme-list@contoso.test", members=(ann, carl),
                          owners=(carl,))
    runbook = _m365_runbook(tmp_path, graph, graph_app[0], "acme LIST")  # as a person types it
    planned = run_cli("plan", str(runbook))
    assert planned.exit_code == 2 and "- delete group Acme list" in planned.output, planned.output
    applied = run_cli("apply", str(runbook), "--yes")
    assert applied.exit_code == 0, applied.output + applied.stderr
    assert graph.group(gid) is None and graph.deleted(gid) is not None


def test_an_m365_display_name_two_groups_share_lists_both_and_closes_neither(
        graph: GraphFake, graph_app: tuple[str, str], tmp_path: Path, run_cli: Any) -> None:  # noqa: F811
    ann, carl = graph.add_user("ann@contoso.test"), graph.add_user("carl@contoso.test")
    one = graph.add_group("Acme", kind="m365", mail="acme-one@contoso.test", members=(ann,), owners=(carl,))
    two = graph.add_group("Acme", kind="m365", mail="acme-two@contoso.test", members=(ann,), owners=(carl,))
    runbook = _m365_runbook(tmp_path, graph, graph_app[0], "Acme")
    planned = run_cli("plan", str(runbook))
    said = planned.output
    assert "list 'Acme': the display name matches 2 groups" in said and one in said and two in said, said
    line = runbook.read_text().splitlines().index("  id: Acme") + 1
    assert f"{runbook}:{line}: lists[0].id: " in said  # located, as a runbook mistake is
    assert "acme-one@contoso.test" in said and "acme-two@contoso.test" in said
    assert "- delete group" not in said
    run_cli("apply", str(runbook), "--yes")
    assert graph.group(one) is not None and graph.group(two) is not None


def test_an_m365_name_found_nowhere_says_what_lists_id_takes(graph: GraphFake, graph_app: tuple[str, str],  # noqa: F811
                                                             tmp_path: Path, run_cli: Any) -> None:
    graph.add_user("ann@contoso.test")
    planned = run_cli("plan", str(_m365_runbook(tmp_path, graph, graph_app[0], "Acme lsit")))
    assert "not found" in planned.output and "by display name" in planned.output
    assert "object id, mail address or exact display name" in planned.output


def _slack_runbook(tmp_path: Path, fake: Any, monkeypatch: Any, channel: str) -> Path:
    import secrets

    token = "xoxb-" + secrets.token_hex(12)
    fake.add_token(token, fake.add_bot("revoke"))
    monkeypatch.setenv("REVOKE_SLACK_TOKEN", token)
    return write_runbook(tmp_path / "slack.yaml", {
        "engagement": "acme-2026", "final_day": yesterday(),
        "systems": {"slack": {"connector": "slack", "identify_by": "email",
                              "settings": {"token": {"secret": "slack_token"}, "base_url": fake.base_url}}},
        "people": [{"name": "Alice", "email": "alice@example.org"}],
        "lists": [{"system": "slack", "id": channel}]})


def test_a_slack_channel_named_as_people_say_it_is_archived(tmp_path: Path, run_cli: Any, monkeypatch: Any) -> None:
    from revoke.sandbox.slack import SlackFake

    with SlackFake() as fake:
        alice = fake.add_user("alice", "alice@example.org")
        fake.add_channel("acme-dev", members=[alice])
        fake.add_channel("acme-devops", members=[alice])
        runbook = _slack_runbook(tmp_path, fake, monkeypatch, "Acme Dev")
        applied = run_cli("apply", str(runbook), "--yes")
        assert applied.exit_code == 0, applied.output + applied.stderr
        assert fake.channel("acme-dev").is_archived and not fake.channel("acme-devops").is_archived


def test_a_slack_name_two_channels_answer_to_lists_both_and_archives_neither(tmp_path: Path, run_cli: Any,
                                                                             monkeypatch: Any) -> None:
    from revoke.sandbox.slack import SlackFake

    with SlackFake() as fake:
        alice = fake.add_user("alice", "alice@example.org")
        one = fake.add_channel("acme-ops", members=[alice])
        two = fake.add_channel("acme_ops", members=[alice])
        runbook = _slack_runbook(tmp_path, fake, monkeypatch, "Acme Ops")
        planned = run_cli("plan", str(runbook))
        said = planned.output
        assert "channel 'Acme Ops' could be any of 2 channels" in said and one in said and two in said, said
        run_cli("apply", str(runbook), "--yes")
        assert not fake.channel("acme-ops").is_archived and not fake.channel("acme_ops").is_archived
