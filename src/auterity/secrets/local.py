"""The local secret backend: each version a row of `secret_versions`, the value sealed.

Values are Fernet-sealed under the platform key (`auterity.core.crypto.Sealer`), so a dump of
the database or a backup reveals nothing without `AUTERITY_SECRET_KEY`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, text, update

from auterity.core.clock import utcnow
from auterity.core.crypto import Sealer
from auterity.core.database import Database
from auterity.core.tenancy import bind_tenant
from auterity.secrets.backend import RevealedSecret, SecretInfo, not_found
from auterity.secrets.models import SecretVersion


class LocalSecretBackend:
    """Secrets in Auterity's own database."""

    kind = "local"

    def __init__(self, db: Database, sealer: Sealer) -> None:
        self._db = db
        self._sealer = sealer

    async def put(
        self, tenant_id: uuid.UUID, name: str, value: str, *, actor: str | None = None
    ) -> int:
        sealed = self._sealer.seal(value)
        async with self._db.session() as session:
            bind_tenant(session, tenant_id)
            if not self._db.is_sqlite:
                # Serialise writers of one name so each gets the next number; on SQLite the
                # write transaction (BEGIN IMMEDIATE) already does.
                await session.execute(
                    text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                    {"key": f"secret:{tenant_id}:{name}"},
                )
            # Deleted versions count too: a number is never reused for another value.
            latest = await session.scalar(
                select(func.max(SecretVersion.version)).where(
                    SecretVersion.tenant_id == tenant_id, SecretVersion.name == name
                )
            )
            version = (latest or 0) + 1
            session.add(
                SecretVersion(
                    tenant_id=tenant_id,
                    name=name,
                    version=version,
                    value_sealed=sealed,
                    created_by=actor,
                )
            )
        return version

    async def get(
        self, tenant_id: uuid.UUID, name: str, version: int | None = None
    ) -> RevealedSecret:
        query = select(SecretVersion.version, SecretVersion.value_sealed).where(
            SecretVersion.tenant_id == tenant_id,
            SecretVersion.name == name,
            SecretVersion.deleted_at.is_(None),
        )
        if version is None:
            query = query.order_by(SecretVersion.version.desc()).limit(1)
        else:
            query = query.where(SecretVersion.version == version)
        async with self._db.session(readonly=True) as session:
            bind_tenant(session, tenant_id)
            row = (await session.execute(query)).one_or_none()
        if row is None or row.value_sealed is None:
            raise not_found(name, version)
        return RevealedSecret(self._sealer.open_text(row.value_sealed), row.version)

    async def delete(self, tenant_id: uuid.UUID, name: str) -> None:
        async with self._db.session() as session:
            bind_tenant(session, tenant_id)
            result = await session.execute(
                update(SecretVersion)
                .where(
                    SecretVersion.tenant_id == tenant_id,
                    SecretVersion.name == name,
                    SecretVersion.deleted_at.is_(None),
                )
                .values(deleted_at=utcnow(), value_sealed=None)
                .execution_options(synchronize_session=False)
            )
        if getattr(result, "rowcount", 0) == 0:
            raise not_found(name)

    async def list(self, tenant_id: uuid.UUID) -> Sequence[SecretInfo]:
        live = (SecretVersion.tenant_id == tenant_id, SecretVersion.deleted_at.is_(None))
        summary = (
            select(
                SecretVersion.name,
                func.max(SecretVersion.version).label("version"),
                func.min(SecretVersion.created_at).label("first_created_at"),
            )
            .where(*live)
            .group_by(SecretVersion.name)
            .subquery()
        )
        query = (
            select(
                SecretVersion.name,
                SecretVersion.version,
                SecretVersion.created_at,
                SecretVersion.created_by,
                summary.c.first_created_at,
            )
            .join(
                summary,
                (summary.c.name == SecretVersion.name)
                & (summary.c.version == SecretVersion.version),
            )
            .where(*live)
            .order_by(SecretVersion.name)
        )
        async with self._db.session(readonly=True) as session:
            bind_tenant(session, tenant_id)
            rows = (await session.execute(query)).all()
        return [
            SecretInfo(
                name=row.name,
                version=row.version,
                created_at=row.first_created_at,
                updated_at=row.created_at,
                updated_by=row.created_by,
            )
            for row in rows
        ]

    async def close(self) -> None:
        """The database belongs to the runtime, which closes it."""
