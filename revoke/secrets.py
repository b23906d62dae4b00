"""Settings and secrets, through pydantic-settings.

A runbook refers to a secret by name (`{secret: corp_ldap_password}`). Its value is looked up, in this order, in
the environment variable `REVOKE_CORP_LDAP_PASSWORD`, the `.env` file beside the runbook, the `.env` file of the
current directory, and the file `corp_ldap_password` in the secrets directory (`REVOKE_SECRETS_DIR`, e.g. a mounted
Kubernetes or Docker secret). Only the names the runbook refers to are read: anything else in a `.env` file or the
secrets directory is ignored, never validated (a validation error would echo its value). Values are `SecretStr`,
never printed, and registered with the process's one redactor (`revoke.redaction`) as they are read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel, SecretStr, create_model
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SecretsSettingsSource, SettingsConfigDict

from revoke.errors import SecretMissing
from revoke.redaction import REDACTOR
from revoke.runbook import SecretRef


class RevokeSettings(BaseSettings):
    """Process-wide settings; every one can be set as REVOKE_<NAME> or in `.env`."""

    model_config = SettingsConfigDict(env_prefix="REVOKE_", env_file=".env", extra="ignore")

    secrets_dir: Path | None = None
    env_file: Path = Path(".env")
    # the SSH key that signs every sealed run (revoke/attest.py); a public key whose private half is in ssh-agent
    # will do. `--signing-key` overrides it.
    signing_key: Path | None = None


def env_files(settings: RevokeSettings, runbook_dir: Path | None) -> list[Path]:
    """The `.env` files a secret is looked up in, most important first: the runbook's folder, then the current
    directory's (or REVOKE_ENV_FILE). The same file is named once."""
    candidates = ([runbook_dir / ".env"] if runbook_dir is not None else []) + [settings.env_file]
    out: list[Path] = []
    for path in candidates:
        if all(path.absolute() != seen.absolute() for seen in out):
            out.append(path)
    return out


class _SecretSources(BaseSettings):
    """Environment and `.env` use the REVOKE_ prefix; a file in the secrets directory is named as the secret."""

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        secrets_dir = settings_cls.model_config.get("secrets_dir")
        files = (SecretsSettingsSource(settings_cls, secrets_dir=secrets_dir, env_prefix="", case_sensitive=False)
                 if secrets_dir else file_secret_settings)
        return init_settings, env_settings, dotenv_settings, files


def _model(names: list[str], dotenv: list[Path], secrets_dir: Path | None) -> type[BaseSettings]:
    """A settings model with one optional field per referenced secret. Its configuration is set when the class
    is made (assigning model_config afterwards does not reach pydantic's validator: extra entries were then
    refused, and the error quoted their values); `extra="ignore"` drops everything the runbook does not name."""

    class Sources(_SecretSources):
        # pydantic-settings reads `.env` files in order, a later one overriding: least important first
        model_config = SettingsConfigDict(env_prefix="REVOKE_", env_file=tuple(str(p) for p in reversed(dotenv)),
                                          extra="ignore", case_sensitive=False,
                                          secrets_dir=str(secrets_dir) if secrets_dir else None)

    fields: dict[str, Any] = {n: (SecretStr | None, None) for n in names}
    return create_model("RunbookSecrets", __base__=Sources, **fields)  # type: ignore[call-overload,unused-ignore]


class Secrets:
    """The resolved values of the secrets a runbook names. Nothing else reads secret values."""

    def __init__(self, values: dict[str, SecretStr]):
        self._values = values
        REDACTOR.add(*(v.get_secret_value() for v in values.values()))

    @classmethod
    def load(cls, names: Iterable[str], settings: RevokeSettings | None = None, *,
             runbook_dir: Path | None = None) -> "Secrets":
        """Read the named secrets; `runbook_dir` is the runbook's folder, whose `.env` is read first."""
        settings = settings or RevokeSettings()
        names = sorted(set(names))
        if not names:
            return cls({})
        dotenv = [p for p in env_files(settings, runbook_dir) if p.is_file()]
        secrets_dir = settings.secrets_dir if settings.secrets_dir and settings.secrets_dir.is_dir() else None
        loaded = _model(names, dotenv, secrets_dir)()
        values: dict[str, SecretStr] = {}
        missing = []
        for n in names:
            value = getattr(loaded, n)
            if value is None or not value.get_secret_value():
                missing.append(n)
            else:
                values[n] = value
        secrets = cls(values)  # registered with the redactor even when another one is missing
        if missing:
            raise SecretMissing(missing[0], looked_in(missing[0], settings, runbook_dir), more=missing[1:])
        return secrets

    def get(self, ref: SecretRef | None) -> str | None:
        if ref is None:
            return None
        return self._values[ref.secret].get_secret_value()

    def redact(self, text: str) -> str:
        """The process's one redactor (these values are registered with it, so are every other run's)."""
        return REDACTOR(text)


def looked_in(name: str, settings: RevokeSettings, runbook_dir: Path | None) -> list[str]:
    """Every place a secret is looked up, in order, as the user can check them."""
    places = [f"REVOKE_{name.upper()}"]
    for path in env_files(settings, runbook_dir):
        places.append(str(path.absolute()) + ("" if path.is_file() else " (no such file)"))
    if settings.secrets_dir is None:
        places.append("$REVOKE_SECRETS_DIR (not set)")
    else:
        where = settings.secrets_dir / name
        places.append(f"$REVOKE_SECRETS_DIR ({where}" + ("" if settings.secrets_dir.is_dir() else
                                                         ": no such directory") + ")")
    return places


def secret_refs(model: Any) -> list[SecretRef]:
    """Every SecretRef inside a validated settings model, wherever it is nested."""
    found: list[SecretRef] = []
    if isinstance(model, SecretRef):
        found.append(model)
    elif isinstance(model, BaseModel):
        for name in type(model).model_fields:
            found.extend(secret_refs(getattr(model, name)))
    elif isinstance(model, dict):
        for v in model.values():
            found.extend(secret_refs(v))
    elif isinstance(model, (list, tuple)):
        for v in model:
            found.extend(secret_refs(v))
    return found
