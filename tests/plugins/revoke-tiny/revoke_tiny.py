"""A revoke connector for a JSON file of users and groups: {"users": {"alice": {"active": true}}, "groups": {...}}."""
import json
import os
import threading
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel

from revoke.actions import ActionKind
from revoke.connector import Connector, Discovery, Entity, Identity, Notice, Receipt, Step


class TinySettings(BaseModel):  # the runbook's `settings:` for this connector
    path: str


class DisableUser(ActionKind):
    name, summary, done_summary, shows_resource = "disable-user", "disable user", "user already disabled", False
    permissions = ("write access to the file",)
    desired = {"active": False}  # the read-back state that means done


class RemoveFromGroup(ActionKind):
    name, summary, done_summary = "remove-from-group", "remove from group", "not in group"
    permissions = ("write access to the file",)
    desired = {"exists": True, "member": False}


class TinyConnector(Connector):
    name: ClassVar[str] = "tiny"
    version: ClassVar[str] = "0.1.0"
    Settings = TinySettings
    kinds = (DisableUser, RemoveFromGroup)
    lock = threading.Lock()  # the engine applies up to `concurrency` actions of a system at once

    def connect(self):
        return Identity(display=f"file {self.settings.path}")

    def discover(self, subjects, lists):  # read-only; a Step per target, needed or already done
        data, found = self._load(), Discovery()
        for s in subjects:
            if s.ident not in data["users"]:  # a person not found is said out loud, never skipped silently
                found.notices.append(Notice(f"no user '{s.ident}' in {self.settings.path}", person=s.person))
                continue
            active = data["users"][s.ident]["active"]
            found.steps.append(Step("disable-user", s.ident, {"active": active}, needed=active, person=s.person))
            for group, members in data["groups"].items():
                if s.ident in members:
                    found.steps.append(Step("remove-from-group", group, {"exists": True, "member": True},
                                            needed=True, principal=s.ident, person=s.person))
        return found

    def identify(self, names):  # what each name is, live: here a user's only identifier is its key in the file
        data = self._load()
        return {n: Entity(frozenset({n}), "account") if n in data["users"] else
                Entity(frozenset({n}), "group") if n in data["groups"] else None for n in names}

    def read_back(self, actions):  # the current state of each target, in the shape of its `before`
        data = self._load()
        return {a.id: self._state(data, a) for a in actions}

    def apply(self, action):  # one change; the engine reads it back, retries and records evidence
        return self._write(action, revoke=True)

    def restore(self, action):  # back to action.before
        return self._write(action, revoke=False)

    def _state(self, data, a):
        if a.kind == "disable-user":
            return {"active": data["users"][a.resource]["active"]}
        members = data["groups"].get(a.resource)
        return {"exists": members is not None, "member": members is not None and a.principal in members}

    def _write(self, a, revoke):
        with self.lock:
            data = self._load()
            if a.kind == "disable-user":
                data["users"][a.resource]["active"] = not revoke
            elif revoke:
                data["groups"][a.resource].remove(a.principal)
            else:
                data["groups"][a.resource].append(a.principal)
            Path(self.settings.path + ".new").write_text(json.dumps(data, indent=1))
            os.replace(self.settings.path + ".new", self.settings.path)  # readers never see half a file
        return Receipt()

    def _load(self):
        return json.loads(Path(self.settings.path).read_text())
