"""One cron scheduler in a process of its own, for the two-scheduler test.

`python -m tests.integration.automatrix.triggers.scheduler_process CONFIG_JSON` prints
`ready`, waits for a line on stdin (so the test starts both processes' schedulers at once),
then runs a `TriggerScheduler` on its own frozen clock: first it jumps `backlog` minutes
ahead and ticks once (with a day of grace every one of those times is on time and due at
once, so both processes go for the same times), then it steps `minutes` more, one tick per
minute. Its last line of output is JSON: the firings it claimed and the claims it lost.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from typing import Any

from auterity.automatrix.triggers.scheduler import CRON_FIRINGS, TriggerScheduler
from auterity.core.clock import FrozenClock, set_clock
from auterity.core.database import Database
from auterity.core.settings import Settings, load_settings
from auterity.models_index import import_all_models


async def schedule(settings: Settings, config: dict[str, Any]) -> dict[str, Any]:
    db = Database(settings)
    clock = FrozenClock(datetime.fromisoformat(config["start"]))
    set_clock(clock)
    scheduler = TriggerScheduler(db, wake=None, poll_interval=1, misfire_grace=86_400)
    clock.advance(60 * config["backlog"])
    claimed = [str(firing_id) for firing_id in await scheduler.tick()]
    for _ in range(config["minutes"]):
        clock.advance(60)
        claimed.extend(str(firing_id) for firing_id in await scheduler.tick())
    await db.dispose()
    # Claims lost to the other process: it inserted that scheduled time's firing first.
    return {"claimed": claimed, "lost": CRON_FIRINGS.labels("taken")._value.get()}


def main(config: dict[str, Any]) -> None:
    settings = load_settings(
        environment="test",
        data_dir=config["data_dir"],
        database_url=config["database_url"],
        database_schema=config["database_schema"] or None,
        log_format="json",
        _env_file=None,
    )
    import_all_models()  # the tables the scheduler's rows refer to (tenants, runs, ...)
    print("ready", flush=True)
    sys.stdin.readline()
    print(json.dumps(asyncio.run(schedule(settings, config))), flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
