"""Template tables: a template, its immutable versions, and which workflows came from which."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from auterity.core.clock import utcnow
from auterity.core.models import Base, IdMixin, TimestampMixin
from auterity.core.tenancy import TenantScoped


class Template(TenantScoped, IdMixin, TimestampMixin, Base):
    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(100), index=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # ",a,b," so one portable LIKE finds a tag on SQLite and PostgreSQL alike.
    tag_index: Mapped[str] = mapped_column(String(2000), default=",")
    # Which version instantiation uses; a rollback moves it back without touching history.
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    latest_version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[uuid.UUID | None] = mapped_column()


class TemplateVersion(TenantScoped, IdMixin, Base):
    """One published document; never updated."""

    __tablename__ = "template_versions"
    __table_args__ = (UniqueConstraint("template_id", "version"),)

    template_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("templates.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str | None] = mapped_column(Text)  # the YAML as written
    # The outcome of the template's own tests when it was published with them.
    tests_passed: Mapped[bool | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[uuid.UUID | None] = mapped_column()


class TemplateInstance(TenantScoped, IdMixin, TimestampMixin, Base):
    """A workflow made from a template: the exact version and the parameter values used."""

    __tablename__ = "template_instances"

    workflow_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workflows.id", ondelete="CASCADE"), unique=True
    )
    template_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("templates.id", ondelete="CASCADE"), index=True
    )
    template_version: Mapped[int] = mapped_column(Integer)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
