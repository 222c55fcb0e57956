"""Settings, read once from arguments and ``IMR_*`` environment variables, then passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from .redact import Redactor, endpoint_name, redactor

OPENAI_URL = "https://api.openai.com/v1"
MAX_FILE_MB = 1024.0  # a letter is read whole into memory, and the PDF reader has 1 GiB

# The ``cascade`` backend asks the model about the fields whose confidence is below this: under every
# unflagged field's base rate in the calibration (extractor/verify/data/calibration.json, 0.98 and
# up), above the rates of the fields a self-check flags (0.15 to 0.80; a citation's flag leaves the
# treatment at 0.90), so that a letter the parser reads without doubt costs no request.
CASCADE_THRESHOLD = 0.9


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "imr-extract"


class Settings(BaseSettings):
    """Everything configurable. Built once (CLI or caller); nothing deeper reads the environment."""

    # inf and nan are refused in every number: IMR_MAX_FILE_MB=inf would pass ``gt=0`` and fail every letter.
    model_config = SettingsConfigDict(env_prefix="IMR_", extra="forbid", frozen=True, allow_inf_nan=False)

    backend: str = Field(default="auto", description="auto, offline, llm, hybrid, cascade")
    cascade_threshold: float = Field(
        default=CASCADE_THRESHOLD, ge=0, le=1,
        description="cascade: a field whose confidence is below this is asked of the model; the rest are the parser's.")
    max_file_mb: float = Field(default=10.0, gt=0, le=MAX_FILE_MB, description="Largest letter file accepted, in MB.")
    workers: int = Field(default=1, ge=1, le=64, description="Processes for a batch (more cores for parsing and validation).")

    # The model endpoint: any OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp server).
    base_url: str | None = Field(default=None, description="Endpoint, e.g. http://localhost:11434/v1; None = OpenAI.")
    api_key: SecretStr | None = Field(default=None, description="Sent as a bearer token; never logged or cached.")
    model: str = Field(default="gpt-4o-mini", description="Model name as the endpoint knows it.")
    mode: Literal["tools", "json_schema", "json_object", "json"] = Field(
        default="tools",
        description="How the answer's schema is enforced: tools = a forced tool call (OpenAI, vLLM, llama-cpp-python "
        "with chatml-function-calling); json_schema = structured outputs (OpenAI, vLLM, llama-server, Ollama); "
        "json_object = JSON mode with a schema (llama-cpp-python); json = the schema in the prompt only (last resort).",
    )
    max_tokens: int | None = Field(
        default=None, ge=16, description="Bound on one answer's tokens; None = sized from the schema and the items asked."
    )
    context_tokens: int | None = Field(
        default=None, ge=512,
        description="The model's context window; None = what the server reports (vLLM, llama-server), else 8192.",
    )
    temperature: float = Field(default=0.0, ge=0, le=2)
    seed: int | None = Field(default=0, description="Sampling seed, for endpoints that honour it.")
    timeout: float = Field(default=120.0, gt=0, description="Seconds before one request is abandoned (then retried).")
    letter_timeout: float | None = Field(
        default=180.0, gt=0,
        description="Seconds of model time one letter may take, parts and re-asks included; what is not answered by "
        "then keeps the parser's values, flagged. None = no limit.",
    )
    max_attempts: int = Field(default=5, ge=1, le=20, description="Tries per request on 429, 5xx, timeouts, resets.")
    max_reasks: int = Field(default=2, ge=0, le=5, description="Re-asks when the answer fails the schema.")
    max_concurrency: int = Field(default=8, ge=1, le=256, description="Letters in flight at once.")
    requests_per_minute: float | None = Field(default=None, gt=0, description="Client-side rate limit; None = none.")
    cache_dir: Path = Field(default_factory=_default_cache_dir, description="Where model answers are cached.")
    no_cache: bool = Field(default=False, description="Neither read nor write the answer cache.")
    prices: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description='USD per million (prompt, completion) tokens by model, over the built-in table: {"m": [0.1, 0.4]}',
    )

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values that must never be shown or stored: the API key, a password in the endpoint's URL."""
        try:
            password = urlsplit(self.base_url).password if self.base_url else None
        except ValueError:  # a URL that cannot be parsed: the command refuses it (no password to hide)
            password = None
        return tuple(s for s in (self.api_key.get_secret_value() if self.api_key else None, password) if s)

    @property
    def redactor(self) -> Redactor:
        """What takes the secrets out of messages, records and files."""
        return redactor(self.secrets)

    @property
    def endpoint(self) -> str:
        """The model endpoint's URL fit to print (no credentials in it)."""
        return endpoint_name(self.base_url or OPENAI_URL)

    @property
    def endpoint_configured(self) -> bool:
        """Whether a model endpoint was given (a URL, or a key for OpenAI itself)."""
        return self.base_url is not None or self.api_key is not None
