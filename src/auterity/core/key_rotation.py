"""Key rotation: re-seal every sealed value in the database under the current secret key.

A column that holds `Sealer` output is named `*_sealed` (secret values, TOTP seeds, signing
keys); rotation finds them by that name, so a new sealed column is covered by being named so.
After it runs, the previous key can be dropped from `AUTERITY_PREVIOUS_SECRET_KEYS`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Column, MetaData, select, update

from auterity.core.crypto import DecryptionFailed, Sealer
from auterity.core.database import Database

SEALED_SUFFIX = "_sealed"
BATCH_SIZE = 500


@dataclass
class RotationReport:
    """How many values each column had re-sealed, and which could not be opened."""

    resealed: Counter[str] = field(default_factory=Counter)
    unreadable: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.resealed.values())


def sealed_columns(metadata: MetaData) -> list[Column[str]]:
    return [
        column
        for table in metadata.sorted_tables
        for column in table.columns
        if column.name.endswith(SEALED_SUFFIX)
    ]


async def reseal_all(
    db: Database, sealer: Sealer, metadata: MetaData, batch_size: int = BATCH_SIZE
) -> RotationReport:
    """Re-seal every non-null sealed value, a batch per transaction; safe to run again."""
    report = RotationReport()
    for column in sealed_columns(metadata):
        await _reseal_column(db, sealer, column, batch_size, report)
    return report


async def _reseal_column(
    db: Database, sealer: Sealer, column: Column[str], batch_size: int, report: RotationReport
) -> None:
    table = column.table
    keys = list(table.primary_key.columns)
    if len(keys) != 1:
        raise ValueError(f"{table.name} needs a single-column primary key for key rotation")
    key = keys[0]
    label = f"{table.name}.{column.name}"
    last: object = None
    while True:
        query = select(key, column).where(column.is_not(None)).order_by(key).limit(batch_size)
        if last is not None:
            query = query.where(key > last)
        async with db.session() as session:
            rows = (await session.execute(query)).all()
            for row_key, sealed in rows:
                try:
                    fresh = sealer.rotate(sealed)
                except DecryptionFailed:
                    report.unreadable.append(f"{label} of row {row_key}")
                    continue
                # Only if unchanged since read: a value deleted meanwhile must stay deleted.
                result = await session.execute(
                    update(table)
                    .where(key == row_key, column == sealed)
                    .values({column.name: fresh})
                )
                report.resealed[label] += getattr(result, "rowcount", 0)
        if len(rows) < batch_size:
            return
        last = rows[-1][0]
