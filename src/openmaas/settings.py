"""One `Settings` object for the whole server and CLI.

Values come from, in order of precedence: command-line flags (passed in by the CLI), environment
variables prefixed `OPENMAAS_` (e.g. `OPENMAAS_DATA_DIR`), then the defaults below. Unknown keys are
refused, so a typo fails loudly.
"""

from __future__ import annotations

import ipaddress
from functools import cached_property
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The longest a SigV4 presigned URL may live.
MAX_PRESIGNED_SECONDS = 7 * 24 * 3600


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENMAAS_", extra="forbid", frozen=True)

    # ---- the HTTP server ----
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, gt=0, description="Larger request bodies get 413.")
    shutdown_grace: float = Field(
        default=25.0,
        ge=0,
        le=3600,
        description="Seconds that running calls get to finish after SIGTERM before they are ended with an "
        "error event (see docs/deployment.md#shutdown).",
    )
    public_base_url: str | None = Field(
        default=None,
        description="Base of the absolute URLs handed out (output images), e.g. https://maas.example.com; "
        "default: the base URL of the request being answered.",
    )

    # ---- logging ----
    log_level: str = "INFO"
    log_format: Literal["auto", "text", "json"] = Field(
        default="auto",
        description="`text`: short coloured lines for people; `json`: one JSON object per line for log "
        "collectors; `auto`: text when stderr is a terminal, else JSON.",
    )
    log_prompts: bool = Field(default=False, description="Log prompt and answer text (off: privacy).")

    # ---- the store: data dir, database, Redis (see docs/deployment.md) ----
    data_dir: Path = Field(default=Path("~/.openmaas"), description="Database, caches and outputs.")
    database_url: str | None = Field(
        default=None,
        description="Default: SQLite in the data dir. `postgresql://user@host:5432/db` to share records "
        "between several API processes.",
    )
    redis_url: str | None = Field(
        default=None,
        description="`redis://host:6379/0`: quota counters, the token cache and the worker directory "
        "shared by every process. With a PostgreSQL database_url it is the scaled-out mode.",
    )
    redis_prefix: str = Field(
        default="openmaas",
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Namespace of every Redis key, so several deployments can share one Redis.",
    )
    response_retention_hours: float = Field(
        default=720.0,
        gt=0,
        description="Responses API: stored responses (`store`, `previous_response_id`) are deleted this "
        "long after they were created (default 30 days).",
    )

    # ---- quotas: the daily call limits ----
    timezone: str = Field(default="Asia/Shanghai", description="The quota day starts at 00:00 here.")
    default_daily_limit: int = Field(default=2000, ge=0, description="Calls per user per day, all models.")
    default_model_daily_limit: int | None = Field(
        default=None, ge=0, description="Calls per user per day on each model, unless set per user."
    )

    # ---- models and engines (see docs/models.md) ----
    models_file: Path | None = Field(
        default=None, description="Registry file replacing or extending the built-in one."
    )
    default_max_tokens: int = Field(
        default=2048,
        ge=1,
        description="Where a chat answer ends when neither the request nor the model sets max_tokens.",
    )

    # ---- image tasks (see docs/images.md) ----
    image_workers: int = Field(default=1, ge=1, le=64, description="Image tasks run at the same time.")
    image_queue_size: int = Field(
        default=100, ge=1, description="Image tasks waiting at most; beyond it submissions get 503."
    )
    image_max_attempts: int = Field(
        default=2, ge=1, description="Runs of a task interrupted by a crash before it is marked FAILED."
    )
    image_url_ttl_seconds: int = Field(default=86400, ge=60, description="How long output URLs work.")
    image_retention_hours: float = Field(
        default=168.0, gt=0, description="Finished image tasks and their files are deleted after this."
    )
    image_queue: Literal["local", "shared"] | None = Field(
        default=None,
        description="Where image tasks wait: `local` (this process's own workers) or `shared` (a durable "
        "queue in PostgreSQL that image workers on any machine take from). Default: shared when "
        "database_url is PostgreSQL and redis_url is set (the scaled-out mode), else local.",
    )
    image_lease_seconds: float = Field(
        default=30.0,
        ge=2,
        description="Shared queue: an image worker silent this long is taken for dead, and its tasks "
        "go to other workers (it renews its lease every fifth of this).",
    )

    # ---- image task outputs in S3-compatible object storage (see docs/images.md) ----
    s3_bucket: str | None = Field(
        default=None, description="Keep image task files in this bucket instead of the data dir."
    )
    s3_prefix: str = Field(
        default="openmaas/", pattern=r"^([A-Za-z0-9!_.*'()/-]*)$", description="Key prefix in the bucket."
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint (MinIO, Ceph, ...); default: AWS for the region."
    )
    s3_public_endpoint_url: str | None = Field(
        default=None,
        description="The endpoint clients reach, when it differs from s3_endpoint_url; the presigned "
        "output URLs are built on it.",
    )
    s3_region: str | None = Field(default=None, description="Default: AWS_DEFAULT_REGION / the AWS config.")
    s3_access_key_id: SecretStr | None = Field(
        default=None, description="Default: the standard AWS chain (AWS_ACCESS_KEY_ID, profile, role)."
    )
    s3_secret_access_key: SecretStr | None = None
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        default="auto", description="`path` for most S3-compatible servers (MinIO)."
    )

    # ---- vision: fetching the images of chat requests (see docs/vision.md) ----
    fetch_allow_networks: tuple[str, ...] = Field(
        default=(),
        description="Networks (CIDR) that image URLs may point into although they are not public, e.g. "
        '["10.1.2.0/24"]. Loopback, private, link-local and metadata addresses are refused otherwise.',
    )
    fetch_max_bytes: int = Field(default=20 * 1024 * 1024, gt=0, description="Largest image fetched.")
    fetch_max_pixels: int = Field(default=4096 * 4096, gt=0, description="Most pixels an input image has.")
    fetch_timeout_seconds: float = Field(default=15.0, gt=0, description="Time limit of one image fetch.")
    vision_max_images: int = Field(
        default=8, ge=1, le=256, description="Images one chat request may hold (vision models)."
    )

    # ---- engine workers (see docs/deployment.md) ----
    worker_secret: SecretStr | None = Field(
        default=None, description="Shared secret between API processes and engine workers (16+ chars)."
    )
    worker_url: str | None = Field(
        default=None, description="The URL the API tier reaches this worker at (default: from host/port)."
    )
    worker_heartbeat_seconds: float = Field(
        default=2.0, gt=0, description="How often a worker renews its registration."
    )

    @field_validator("data_dir", "models_file", mode="after")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @field_validator("fetch_allow_networks")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError as exc:
                raise ValueError(f"not a network: {network!r} (use CIDR, e.g. 10.0.0.0/8)") from exc
        return value

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("public_base_url must start with http:// or https://")
        return value.rstrip("/") if value else None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("worker_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("worker_secret must be at least 16 characters")
        return value

    @field_validator("s3_endpoint_url", "s3_public_endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("an S3 endpoint must start with http:// or https://")
        return value.rstrip("/") if value else None

    @model_validator(mode="after")
    def _presigned_urls_live_at_most_a_week(self) -> Settings:
        if self.s3_bucket is not None and self.image_url_ttl_seconds > MAX_PRESIGNED_SECONDS:
            raise ValueError(
                f"image_url_ttl_seconds is at most {MAX_PRESIGNED_SECONDS} (7 days) with S3 outputs: "
                "S3 refuses presigned URLs that live longer"
            )
        return self

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def shared_image_queue(self) -> bool:
        """Whether image tasks go to the shared queue (see `image_queue`)."""
        if self.image_queue is not None:
            return self.image_queue == "shared"
        postgres = (self.database_url or "").startswith(("postgresql", "postgres:"))
        return postgres and self.redis_url is not None
