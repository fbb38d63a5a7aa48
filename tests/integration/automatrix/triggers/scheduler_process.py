"""One cron scheduler in a process of its own, for the two-scheduler test.

`python -m tests.integration.automatrix.triggers.scheduler_process CONFIG_JSON` runs a
`TriggerScheduler` on its own frozen clock once the test creates the `go` file, so both
processes start together. First it jumps `backlog` minutes ahead and ticks once (with a day
of grace, every one of those times is on time and due at once: both processes go for the
same times), then it steps `minutes` more, one tick per minute. It writes the ids of the
firings it claimed, and how many claims it lost, to `out`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import datetime
from pathlib import Path

from auterity.automatrix.triggers.scheduler import CRON_FIRINGS, TriggerScheduler
from auterity.core.clock import FrozenClock, set_clock
from auterity.core.database import Database
from auterity.core.settings import load_settings
from auterity.models_index import import_all_models


async def main(config: dict[str, str | int]) -> None:
    settings = load_settings(
        environment="test",
        data_dir=str(config["data_dir"]),
        database_url=str(config["database_url"]),
        database_schema=config.get("database_schema") or None,
        log_format="json",
        _env_file=None,
    )
    import_all_models()  # the tables the scheduler's rows refer to (tenants, runs, ...)
    db = Database(settings)
    clock = FrozenClock(datetime.fromisoformat(str(config["start"])))
    set_clock(clock)
    scheduler = TriggerScheduler(db, wake=None, poll_interval=1, misfire_grace=86_400)
    Path(str(config["ready"])).touch()
    go = Path(str(config["go"]))
    deadline = time.monotonic() + 60
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit("the test never said go")
        await asyncio.sleep(0.01)
    clock.advance(60 * int(config["backlog"]))
    claimed = [str(firing_id) for firing_id in await scheduler.tick()]
    for _ in range(int(config["minutes"])):
        clock.advance(60)
        claimed.extend(str(firing_id) for firing_id in await scheduler.tick())
    # Claims this process lost to the other one: they tried the same scheduled time.
    lost = CRON_FIRINGS.labels("taken")._value.get()
    Path(str(config["out"])).write_text(json.dumps({"claimed": claimed, "lost": lost}))
    await db.dispose()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
