"""Settings and secrets, through pydantic-settings.

A runbook refers to a secret by name (`{secret: corp_ldap_password}`). Its value is looked up, in this order, in
the environment variable `REVOKE_CORP_LDAP_PASSWORD`, the `.env` file, and the file `corp_ldap_password` in the
secrets directory (`REVOKE_SECRETS_DIR`, e.g. a mounted Kubernetes or Docker secret). Values are `SecretStr` and
never printed; `Secrets.redact` scrubs any that would reach output by accident.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel, SecretStr, create_model
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SecretsSettingsSource, SettingsConfigDict

from revoke.errors import SecretMissing
from revoke.runbook import SecretRef


class RevokeSettings(BaseSettings):
    """Process-wide settings; every one can be set as REVOKE_<NAME> or in `.env`."""

    model_config = SettingsConfigDict(env_prefix="REVOKE_", env_file=".env", extra="ignore")

    secrets_dir: Path | None = None
    env_file: Path = Path(".env")


def _env_file(settings: RevokeSettings) -> str | None:
    return str(settings.env_file) if settings.env_file.is_file() else None


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


class Secrets:
    """The resolved values of the secrets a runbook names. Nothing else reads secret values."""

    def __init__(self, values: dict[str, SecretStr]):
        self._values = values

    @classmethod
    def load(cls, names: Iterable[str], settings: RevokeSettings | None = None) -> "Secrets":
        settings = settings or RevokeSettings()
        names = sorted(set(names))
        if not names:
            return cls({})
        fields: dict[str, Any] = {n: (SecretStr | None, None) for n in names}
        config = SettingsConfigDict(env_prefix="REVOKE_", env_file=_env_file(settings), extra="ignore",
                                    secrets_dir=str(settings.secrets_dir) if settings.secrets_dir else None,
                                    case_sensitive=False)
        model = create_model("RunbookSecrets", __base__=_SecretSources, **fields)  # type: ignore[call-overload]
        model.model_config = config
        loaded = model()
        values: dict[str, SecretStr] = {}
        for n in names:
            value = getattr(loaded, n)
            if value is None or not value.get_secret_value():
                raise SecretMissing(n, f"REVOKE_{n.upper()}",
                                    str(settings.secrets_dir) if settings.secrets_dir else None)
            values[n] = value
        return cls(values)

    def get(self, ref: SecretRef | None) -> str | None:
        if ref is None:
            return None
        return self._values[ref.secret].get_secret_value()

    def redact(self, text: str) -> str:
        for value in self._values.values():
            raw = value.get_secret_value()
            if len(raw) >= 4:
                text = text.replace(raw, "********")
        return text


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
