"""AutoMatrix tables: workflows, their immutable versions, runs, step runs and run events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from auterity.core.clock import utcnow
from auterity.core.models import Base, IdMixin, TimestampMixin
from auterity.core.tenancy import TenantScoped

RUN_STATUSES = ("queued", "running", "waiting", "succeeded", "failed", "cancelled")
STEP_STATUSES = (
    "pending",
    "ready",
    "running",
    "waiting",
    "succeeded",
    "failed",
    "skipped",
    "cancelled",
)
FINISHED_RUN = ("succeeded", "failed", "cancelled")
FINISHED_STEP = ("succeeded", "failed", "skipped", "cancelled")


class Workflow(TenantScoped, IdMixin, TimestampMixin, Base):
    __tablename__ = "workflows"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[uuid.UUID | None] = mapped_column()


class WorkflowVersion(TenantScoped, IdMixin, Base):
    """One saved spec; never updated, so a run pinned to it always sees what it started with."""

    __tablename__ = "workflow_versions"
    __table_args__ = (UniqueConstraint("workflow_id", "version"),)

    workflow_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workflows.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str | None] = mapped_column(Text)  # the YAML as written, when given as YAML
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[uuid.UUID | None] = mapped_column()


class Run(TenantScoped, IdMixin, Base):
    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_claim", "status", "lease_expires_at"),
        UniqueConstraint("workflow_id", "idempotency_key"),
    )

    workflow_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workflows.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    outputs: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    deadline_at: Mapped[datetime | None] = mapped_column()
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    # Which process drives the run, until when; another may take over once it lapses.
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    event_seq: Mapped[int] = mapped_column(Integer, default=0)
    # Sub-workflows (workflow.call): the calling run, and how deep the call chain is.
    parent_run_id: Mapped[uuid.UUID | None] = mapped_column()
    depth: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # A retry is a new run: the run it retries, and the step parameters it runs with
    # instead of the version's (step id -> the whole `with` mapping), when edited.
    retry_of: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), index=True
    )
    step_overrides: Mapped[dict[str, dict[str, Any]] | None] = mapped_column(JSON)


class StepRun(TenantScoped, IdMixin, Base):
    __tablename__ = "step_runs"
    __table_args__ = (
        UniqueConstraint("run_id", "step_id", "item_index"),
        # The concurrency caps count running steps (all, or a tenant's) on each admission.
        Index("ix_step_runs_status", "status", "tenant_id"),
    )

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    step_id: Mapped[str] = mapped_column(String(100))
    item_index: Mapped[int] = mapped_column(Integer, default=-1)  # -1: the step itself
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    input: Mapped[Any | None] = mapped_column(JSON)
    output: Mapped[Any | None] = mapped_column(JSON)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    logs: Mapped[list[str]] = mapped_column(JSON, default=list)
    due_at: Mapped[datetime | None] = mapped_column()
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    idempotency_key: Mapped[str] = mapped_column(String(200))
    # Set on a step a retry copied instead of running: the run whose result it reuses.
    reused_from: Mapped[uuid.UUID | None] = mapped_column()


class RunEvent(TenantScoped, IdMixin, Base):
    __tablename__ = "run_events"
    __table_args__ = (UniqueConstraint("run_id", "seq"),)

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(50))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PythonModule(TenantScoped, IdMixin, Base):
    """Trusted Python deployed with the SDK (`auterity deploy`): workflow steps import it by
    `ref` (name@digest) and run it in-process, so only operators and trusted tenants add rows."""

    __tablename__ = "python_modules"
    __table_args__ = (UniqueConstraint("tenant_id", "ref"),)

    ref: Mapped[str] = mapped_column(String(200))  # name@first 16 hex of the source's SHA-256
    name: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(Text)
    deployed_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
