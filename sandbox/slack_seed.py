"""A Slack workspace to rehearse a runbook against (and for `revoke demo`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from revoke.sandbox.slack import SlackFake


def seed_engagement(fake: "SlackFake", token: str, *, prefix: str = "acme-",
                    leavers: dict[str, str] | None = None, stays: dict[str, str] | None = None) -> dict[str, str]:
    """A workspace for rehearsing a runbook (and for `revoke demo`): the app's bot with `token`, the leavers and the
    colleagues who stay (name -> email), and the engagement's channels: `<prefix>general` and `<prefix>dev` to
    archive, a private `<prefix>leads`, an archived `<prefix>kickoff`, a Slack Connect `<prefix>partner`, plus
    `client-team` and `#general`, which stay open. Answers name -> id for people and channels."""
    leavers = leavers or {"alice": "alice@consult.example", "bob": "bob@consult.example"}
    stays = stays or {"carol": "carol@client.example"}
    ids: dict[str, str] = {"bot": fake.add_bot("revoke")}
    fake.add_token(token, ids["bot"])
    for name, email in {**leavers, **stays}.items():
        ids[name] = fake.add_user(name, email)
    people = [ids[n] for n in (*leavers, *stays)]
    first_leaver, first_stay = ids[next(iter(leavers))], ids[next(iter(stays))]
    ids["general"] = fake.add_channel("general", members=people, general=True)
    ids[f"{prefix}general"] = fake.add_channel(f"{prefix}general", members=people)
    ids[f"{prefix}dev"] = fake.add_channel(f"{prefix}dev", members=people)
    ids[f"{prefix}leads"] = fake.add_channel(f"{prefix}leads", members=[first_leaver, first_stay, ids["bot"]],
                                             private=True)
    ids[f"{prefix}kickoff"] = fake.add_channel(f"{prefix}kickoff", members=people, archived=True)
    ids[f"{prefix}partner"] = fake.add_channel(f"{prefix}partner", members=[first_leaver, first_stay], shared=True)
    ids["client-team"] = fake.add_channel("client-team", members=people)
    return ids
