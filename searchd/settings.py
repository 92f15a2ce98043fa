"""Settings of the searchd HTTP service, from ``FOLEY_*`` environment variables or arguments.

FOLEY_HOME=H FOLEY_API_KEY=secret foley serve
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """What ``foley serve`` needs to know; every field reads ``FOLEY_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="FOLEY_", extra="ignore")

    home: Path | None = Field(None, description="Foley home (default: ./foley-home)")
    api_key: SecretStr | None = Field(
        None, description="when set, every route but /health needs `Authorization: Bearer <key>`"
    )
    max_upload_mb: float = Field(64.0, gt=0, description="largest request body accepted")
    request_timeout_s: float = Field(60.0, gt=0, description="longest a request may work")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)

    @field_validator("api_key")
    @classmethod
    def _empty_key_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value() else None

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)
