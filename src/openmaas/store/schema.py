"""The relational schema (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Alembic migrations in `migrations/` create and evolve it; this module is the picture of the head.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("daily_limit", Integer, nullable=True),
    Column("model_daily_limit", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("label", String(200), nullable=False, default=""),
    Column("models", JSON, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Index("ix_tokens_user_id", "user_id"),
    Index("ix_tokens_prefix", "prefix"),
)

# The ledger: what each user used of each model on each quota day (history, usage views).
usage_daily = Table(
    "usage_daily",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("model", String(200), primary_key=True),
    Column("calls", BigInteger, nullable=False, default=0),
    Column("prompt_tokens", BigInteger, nullable=False, default=0),
    Column("completion_tokens", BigInteger, nullable=False, default=0),
    Index("ix_usage_daily_day", "day"),
)

# Quota counters of the embedded mode (the scaled-out mode keeps them in Redis). `scope` is a model id,
# or "*" for the user's total across models.
quota_counters = Table(
    "quota_counters",
    metadata,
    Column("user_id", Integer, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("scope", String(200), primary_key=True),
    Column("calls", Integer, nullable=False),
)

# Asynchronous tasks (image generation): durable, so a restart loses no queued or finished task.
tasks = Table(
    "tasks",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("model", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("params", JSON, nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("quota_day", Date, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("progress", Float, nullable=False, default=0.0),
    Column("outputs", JSON, nullable=False),
    Column("error_code", String(64), nullable=True),
    Column("error_message", Text, nullable=True),
    Column("input_key", String(200), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_tasks_status_created", "status", "created_at"),
    Index("ix_tasks_user_id", "user_id"),
    Index("ix_tasks_updated_at", "updated_at"),
)

# Stored responses of the Responses API (see `domain/responses.py`), deleted after their retention.
responses = Table(
    "responses",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("model", String(200), nullable=False),
    Column("previous_response_id", String(64), nullable=True),
    Column("input_items", JSON, nullable=False),
    Column("body", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_responses_user_id", "user_id"),
    Index("ix_responses_created_at", "created_at"),
)
