"""Tables of the vector collections: each collection, and the items of those kept in the
platform database (the `database` store; sqlite-vec keeps its items in a file of its own)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from auterity.core.models import Base, IdMixin, TimestampMixin
from auterity.core.tenancy import TenantScoped


class VectorCollection(TenantScoped, IdMixin, TimestampMixin, Base):
    __tablename__ = "vector_collections"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    dimensions: Mapped[int]
    metric: Mapped[str] = mapped_column(String(8))  # cosine | l2 | dot
    model: Mapped[str | None] = mapped_column(String(200))  # embeds text given without vectors
    store: Mapped[str] = mapped_column(String(16))  # which store holds its items
    description: Mapped[str | None] = mapped_column(Text)


class VectorItem(TenantScoped, IdMixin, TimestampMixin, Base):
    __tablename__ = "vector_items"
    __table_args__ = (UniqueConstraint("collection_id", "item_id"),)

    collection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("vector_collections.id", ondelete="CASCADE"), index=True
    )
    item_id: Mapped[str] = mapped_column(String(200))
    text: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)  # little-endian float32
