"""The one settings object. Nothing else in the package reads ``os.environ``.

Precedence: environment variables, then ``.env``, then the defaults below. Names
are the original service's where they still apply (ACCESS_TOKEN,
NAME_OF_API_MODEL, CACHE_LIFE_PERIOD, OPENAI_API_KEY).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from .errors import ConfigError

__all__ = ["SECRET_SETTINGS", "Settings", "TokenSpec", "get_settings"]

# Placeholder values a real deployment must never keep.
_UNSAFE_TOKENS = {"", "changeme", "change-me", "token", "secret", "dev-token"}

# Every secret setting, by its environment name: each may instead be given as NAME_FILE,
# the path of a file holding it (the Docker and Kubernetes secrets convention).
SECRET_SETTINGS = (
    "ACCESS_TOKEN",
    "ACCESS_TOKENS",
    "OPENAI_API_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SSL_KEY_PASSWORD",
)


class _SecretFiles(PydanticBaseSettingsSource):
    """NAME_FILE in the environment: the secret NAME is the file's text (without its
    trailing line break). Setting both NAME and NAME_FILE is refused: which one wins
    would be a guess. The error names the variable and the path, never the content."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the environment itself

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name in SECRET_SETTINGS:
            path = os.environ.get(f"{name}_FILE")
            if not path:
                continue
            if os.environ.get(name):
                raise ConfigError(f"both {name} and {name}_FILE are set: set only one")
            try:
                found[name] = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ConfigError(
                    f"{name}_FILE={path}: cannot read it ({exc.strerror or type(exc).__name__})"
                ) from None
        return found


class TokenSpec:
    """One bearer token with a name (for logs and metrics) and scopes."""

    __slots__ = ("name", "scopes", "secret")

    def __init__(self, name: str, secret: str, scopes: frozenset[str]) -> None:
        self.name = name
        self.secret = secret
        self.scopes = scopes

    def __repr__(self) -> str:  # never show the secret
        return f"TokenSpec(name={self.name!r}, scopes={sorted(self.scopes)!r})"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    environment: Literal["development", "production", "test"] = Field(
        "development", validation_alias=AliasChoices("APP_ENV", "ENVIRONMENT")
    )
    app_title: str = Field("Sales Analyzer", validation_alias="APP_TITLE")

    # --- services ---
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    database_url: SecretStr = Field(
        SecretStr("postgresql://sales:sales@127.0.0.1:5432/sales"), validation_alias="DATABASE_URL"
    )
    redis_url: SecretStr = Field(
        SecretStr("redis://127.0.0.1:6379/0"),
        validation_alias=AliasChoices("REDIS_URL", "REDIS_CONNECT_URL"),
    )

    # --- Kafka security (names as aiokafka and FastStream call them; docs/operations.md,
    # "Secured Kafka"). PLAINTEXT adds nothing to any client. Each process has its own
    # credentials: they come from that process's environment.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", validation_alias="KAFKA_SECURITY_PROTOCOL"
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "PLAIN", validation_alias="KAFKA_SASL_MECHANISM"
    )
    kafka_sasl_username: str = Field("", validation_alias="KAFKA_SASL_USERNAME")
    kafka_sasl_password: SecretStr = Field(SecretStr(""), validation_alias="KAFKA_SASL_PASSWORD")
    # The CA that signed the brokers' certificates (PEM); empty: the system's CAs.
    kafka_ssl_cafile: str = Field("", validation_alias="KAFKA_SSL_CAFILE")
    # A client certificate and its key (PEM) for brokers that ask for one (mTLS).
    kafka_ssl_certfile: str = Field("", validation_alias="KAFKA_SSL_CERTFILE")
    kafka_ssl_keyfile: str = Field("", validation_alias="KAFKA_SSL_KEYFILE")
    kafka_ssl_key_password: SecretStr = Field(
        SecretStr(""), validation_alias="KAFKA_SSL_KEY_PASSWORD"
    )
    # Whether processes create missing topics at start. Off on a secured cluster, where
    # an admin creates them and the processes' principals may not (deploy/native/up).
    kafka_create_topics: bool = Field(True, validation_alias="KAFKA_CREATE_TOPICS")

    # --- Kafka topology (applied when topics are created) ---
    kafka_partitions: int = Field(6, ge=1, le=1000, validation_alias="KAFKA_PARTITIONS")
    kafka_replication_factor: int = Field(1, ge=1, validation_alias="KAFKA_REPLICATION_FACTOR")
    # How long a producer waits for more records before sending a batch. aiokafka keeps
    # one request in flight per broker, so records queued behind it share the next
    # batch anyway; a linger only adds latency (measured: an upload's round trip took
    # 5.2 ms with 2 ms linger, 1.5 ms with none).
    kafka_linger_ms: int = Field(0, ge=0, le=1000, validation_alias="KAFKA_LINGER_MS")
    # The cap on a whole day's XML (1,000,000 products are ~139 MB). A day larger than
    # upload_chunk_bytes travels as chunk records plus a manifest (contracts/topics.md),
    # so no Kafka record, and no process, ever holds the whole day.
    max_upload_bytes: int = Field(1024 * 1024 * 1024, ge=1024, validation_alias="MAX_UPLOAD_BYTES")
    # Target size of one chunk record of a big day: cut at the last product boundary
    # before it. ~1 MiB keeps every process's memory small and Kafka's batches full.
    upload_chunk_bytes: int = Field(
        1024 * 1024, ge=4096, le=16 * 1024 * 1024, validation_alias="UPLOAD_CHUNK_BYTES"
    )

    # Static group membership (KIP-345): each consumer joins its group with a stable
    # instance id, "<INSTANCE_NAME>:<stage>:<topic>", so a consumer restarted (even after
    # kill -9) within KAFKA_SESSION_TIMEOUT_MS gets its partitions back at once, with no
    # rebalance. The cost: a consumer stopped for good keeps its partitions until the
    # session times out (a static member does not leave its group on shutdown).
    kafka_static_membership: bool = Field(True, validation_alias="KAFKA_STATIC_MEMBERSHIP")
    # Names this process among the service's processes (default: the host's name). Two
    # live consumers of one stage must never share it (the later fences the earlier):
    # set it per process when running several of one stage on a host (e.g. "ingest-2").
    instance_name: str = Field("", validation_alias="INSTANCE_NAME")
    # How long the group waits for a silent consumer before giving its partitions to
    # the others: a consumer dead (or, with static membership, stopped) for good costs
    # its partitions this long; a restart within it keeps them with no rebalance (a
    # process starts in ~3-10 s on a busy host, and the reporter's three consumers join
    # one after the other: a short session turns a restart into rebalances).
    kafka_session_timeout_ms: int = Field(
        30_000, ge=6_000, le=300_000, validation_alias="KAFKA_SESSION_TIMEOUT_MS"
    )

    # --- gateway ---
    gateway_host: str = Field("127.0.0.1", validation_alias="GATEWAY_HOST")
    gateway_port: int = Field(8000, validation_alias="GATEWAY_PORT")
    gateway_workers: int = Field(1, ge=1, le=16, validation_alias="GATEWAY_WORKERS")
    access_token: SecretStr = Field(SecretStr(""), validation_alias="ACCESS_TOKEN")
    # Extra tokens: "name:secret[:scope+scope],name2:secret2" (scopes: upload, read, correct;
    # without a list: upload+read, so replacing a stored day is granted only by name).
    access_tokens: SecretStr = Field(SecretStr(""), validation_alias="ACCESS_TOKENS")
    rate_limit_per_minute: int = Field(6000, ge=0, validation_alias="RATE_LIMIT_PER_MINUTE")
    request_timeout_seconds: float = Field(30.0, gt=0, validation_alias="REQUEST_TIMEOUT_SECONDS")

    # --- ingest ---
    cache_life_period: int = Field(86400, ge=1, validation_alias="CACHE_LIFE_PERIOD")
    validation_policy: Literal["lenient", "strict"] = Field(
        "lenient", validation_alias="VALIDATION_POLICY"
    )
    max_products_per_day: int = Field(5_000_000, ge=1, validation_alias="MAX_PRODUCTS_PER_DAY")
    # A chunked upload whose manifest has not come this long after its latest chunk is
    # rejected (incomplete_upload) and its staged chunks are deleted.
    incomplete_upload_seconds: float = Field(
        900.0, gt=0, validation_alias="INCOMPLETE_UPLOAD_SECONDS"
    )
    # A big day stored while its chunks come holds one transaction open; one that gets no
    # chunk this long is rolled back (PostgreSQL ends the session too) and the manifest
    # stores the day from staging instead.
    open_day_idle_seconds: float = Field(30.0, gt=0, validation_alias="OPEN_DAY_IDLE_SECONDS")
    ingest_batch_size: int = Field(200, ge=1, le=5000, validation_alias="INGEST_BATCH_SIZE")
    retry_backoff_max_seconds: float = Field(
        30.0, gt=0, validation_alias="RETRY_BACKOFF_MAX_SECONDS"
    )
    # While a dependency (PostgreSQL, Redis, Kafka) is away, a consumer tries its work
    # again at least this often (not after a backoff of up to RETRY_BACKOFF_MAX_SECONDS),
    # so it resumes within about this long of the dependency's return. The retries are
    # one outage in the logs, not a line each (LOG_OUTAGE_SUMMARY_SECONDS).
    retry_probe_seconds: float = Field(1.0, gt=0, le=60, validation_alias="RETRY_PROBE_SECONDS")
    # Nice value ingest and reporter give themselves (0 = none): when the host is busy,
    # the gateway, which clients wait on, gets the CPU first; Kafka buffers the work.
    background_nice: int = Field(10, ge=0, le=19, validation_alias="BACKGROUND_NICE")

    # --- reporter / LLM ---
    openai_api_key: SecretStr = Field(SecretStr(""), validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(None, validation_alias="OPENAI_BASE_URL")
    llm_model: str = Field(
        "gpt-4o-mini", validation_alias=AliasChoices("NAME_OF_API_MODEL", "LLM_MODEL")
    )
    llm_timeout_seconds: float = Field(60.0, gt=0, validation_alias="LLM_TIMEOUT_SECONDS")
    # Our own retries of one LLM call within a report (the openai client's are off),
    # with a short backoff and the process-wide Retry-After gate between tries.
    llm_max_retries: int = Field(2, ge=0, le=10, validation_alias="LLM_MAX_RETRIES")
    llm_max_concurrency: int = Field(8, ge=1, validation_alias="LLM_MAX_CONCURRENCY")
    llm_max_tokens: int = Field(1200, ge=64, validation_alias="LLM_MAX_TOKENS")
    # A report may make this many LLM calls, failed ones included (its `attempts`);
    # once they are spent without a usable reply it is stored as "failed" and can be
    # regenerated later. 15 = five failed rounds of 1 + LLM_MAX_RETRIES calls.
    llm_max_attempts: int = Field(15, ge=1, validation_alias="LLM_MAX_ATTEMPTS")
    report_language: Literal["ru", "en"] = Field("ru", validation_alias="REPORT_LANGUAGE")

    # --- observability ---
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")
    log_format: Literal["json", "text"] = Field("json", validation_alias="LOG_FORMAT")
    # While a dependency is away its errors and retries are not logged one by one: one
    # line when it goes, then one summary (how long, how many lines suppressed) at most
    # this often, and one line when it is back.
    log_outage_summary_seconds: float = Field(
        10.0, gt=0, validation_alias="LOG_OUTAGE_SUMMARY_SECONDS"
    )
    ingest_metrics_port: int = Field(9101, validation_alias="INGEST_METRICS_PORT")
    reporter_metrics_port: int = Field(9102, validation_alias="REPORTER_METRICS_PORT")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            _SecretFiles(settings_cls),
            env_settings,
            dotenv_settings,
            file_secret_settings,
        )

    @field_validator("log_level")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper()

    @model_validator(mode="after")
    def _kafka_security_complete(self) -> Settings:
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_sasl_username and self.kafka_sasl_password.get_secret_value()
        ):
            raise ConfigError(
                f"KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE)"
            )
        if self.kafka_ssl_keyfile and not self.kafka_ssl_certfile:
            raise ConfigError("KAFKA_SSL_KEYFILE needs KAFKA_SSL_CERTFILE")
        return self

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        if self.environment == "production":
            tokens = self.tokens()
            if not tokens:
                raise ConfigError("production needs ACCESS_TOKEN or ACCESS_TOKENS")
            for spec in tokens:
                low = spec.secret.lower()
                if low in _UNSAFE_TOKENS or low.startswith("change") or len(spec.secret) < 16:
                    raise ConfigError(
                        f"token {spec.name!r} is a placeholder or shorter than 16 characters"
                    )
        return self

    def tokens(self) -> list[TokenSpec]:
        """Every accepted bearer token; ACCESS_TOKEN is named "default" with all scopes."""
        specs: list[TokenSpec] = []
        every = frozenset({"upload", "read", "correct"})
        plain = frozenset({"upload", "read"})  # a named token without a scope list
        if self.access_token.get_secret_value():
            specs.append(TokenSpec("default", self.access_token.get_secret_value(), every))
        for item in self.access_tokens.get_secret_value().split(","):
            item = item.strip()
            if not item:
                continue
            parts = item.split(":")
            if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
                raise ConfigError(
                    "ACCESS_TOKENS items must look like name:secret[:upload+read+correct]"
                )
            scopes = frozenset(parts[2].split("+")) if len(parts) == 3 else plain
            if not scopes <= every:
                raise ConfigError(
                    f"unknown scope in ACCESS_TOKENS for {parts[0]!r}: {sorted(scopes - every)}"
                )
            specs.append(TokenSpec(parts[0], parts[1], scopes))
        return specs

    @property
    def llm_enabled(self) -> bool:
        return bool(self.openai_api_key.get_secret_value())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
