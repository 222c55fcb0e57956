"""Settings, read once from arguments and ``IMR_*`` environment variables, then passed down."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything configurable. Built once (CLI or caller); nothing deeper reads the environment."""

    model_config = SettingsConfigDict(env_prefix="IMR_", extra="forbid", frozen=True)

    backend: str = Field(default="auto", description="auto, offline")
    max_file_mb: float = Field(default=10.0, gt=0, description="Largest letter file accepted, in MB.")

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)
