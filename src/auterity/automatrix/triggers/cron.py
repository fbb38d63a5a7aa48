"""Cron schedules: croniter expressions read in an IANA time zone, answered in UTC.

`Schedule` knows the times a trigger should fire; `plan` splits the times due since the
trigger's `next_fire_at` into those still on time and those missed while nothing ran (more
than `grace` late), which the misfire policy either skips or fires once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, CroniterError, croniter

from auterity.core.errors import FieldError

_TICK = timedelta(microseconds=1)


def schedule_errors(expression: str, timezone: str, pointer: str = "") -> list[FieldError]:
    """What is wrong with an expression and a time zone, each with its JSON pointer."""
    errors: list[FieldError] = []
    fields = expression.split()
    if not expression.startswith("@") and len(fields) not in (5, 6):
        errors.append(
            FieldError(
                f"{pointer}/cron",
                f"{expression!r} has {len(fields)} fields; a cron expression has 5 "
                "(minute hour day month weekday) or 6 (with seconds last).",
                hint="for example '0 9 * * mon-fri' (09:00 on weekdays)",
            )
        )
    else:
        try:
            croniter(expression).get_next(datetime)
        except CroniterBadDateError:
            errors.append(
                FieldError(f"{pointer}/cron", f"{expression!r} matches no date (like 30 February)")
            )
        except CroniterError as exc:
            errors.append(FieldError(f"{pointer}/cron", f"invalid cron expression: {exc}"))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(
            FieldError(
                f"{pointer}/timezone",
                f"{timezone!r} is not an IANA time zone.",
                hint="for example 'UTC', 'Europe/Berlin' or 'America/New_York'",
            )
        )
    return errors


@dataclass(frozen=True, slots=True)
class Schedule:
    expression: str
    timezone: str
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    def next_after(self, moment: datetime) -> datetime | None:
        """The first scheduled time strictly after `moment` within the start and end dates."""
        if self.starts_at is not None and moment < self.starts_at:
            moment = self.starts_at - _TICK
        local = moment.astimezone(ZoneInfo(self.timezone))
        found: datetime = croniter(self.expression, local).get_next(datetime)
        found = found.astimezone(UTC)
        if self.ends_at is not None and found > self.ends_at:
            return None
        return found

    def latest_before(self, moment: datetime) -> datetime | None:
        """The last scheduled time strictly before `moment` within the start and end dates."""
        if self.ends_at is not None and moment > self.ends_at:
            moment = self.ends_at + _TICK
        local = moment.astimezone(ZoneInfo(self.timezone))
        found: datetime = croniter(self.expression, local).get_prev(datetime)
        found = found.astimezone(UTC)
        if self.starts_at is not None and found < self.starts_at:
            return None
        return found


@dataclass(frozen=True, slots=True)
class Plan:
    fire: list[datetime]  # scheduled times to fire now, oldest first
    skipped: int  # missed times not fired (misfire policy `skip`, or all but one)
    next_fire_at: datetime | None  # after all of these, or None once past the end date


def plan(
    schedule: Schedule, next_fire_at: datetime, now: datetime, grace: timedelta, misfire: str
) -> Plan:
    """What to fire at `now` for a trigger whose next unfired time is `next_fire_at`.

    Times at most `grace` late are on time and all fire. Older ones were missed (the
    scheduler was not running): `skip` fires none of them, `run_once` fires the latest one.
    """
    cutoff = now - grace
    fire: list[datetime] = []
    skipped = 0
    first: datetime | None = next_fire_at
    if next_fire_at < cutoff:
        latest_missed = schedule.latest_before(cutoff)
        if latest_missed is not None and latest_missed >= next_fire_at:
            skipped = _count_between(schedule, next_fire_at, latest_missed)
            if misfire == "run_once":
                fire.append(latest_missed)
                skipped -= 1
        first = schedule.next_after(cutoff - _TICK)
    while first is not None and first <= now:
        fire.append(first)
        first = schedule.next_after(first)
    return Plan(fire, skipped, first)


_COUNT_LIMIT = 1_000


def _count_between(schedule: Schedule, first: datetime, last: datetime) -> int:
    """How many scheduled times lie in [first, last] (counted up to a limit, for the log)."""
    count, moment = 1, first
    while count < _COUNT_LIMIT:
        following = schedule.next_after(moment)
        if following is None or following > last:
            break
        count, moment = count + 1, following
    return count
