"""Locust users for bench/bench_load.py: each is a registrant who submits a
distinct pre-sealed envelope, then the next, with no think time unless
DVR_BENCH_THINK is set. Envelopes come from DVR_BENCH_POOL (JSON lines);
every 201 receipt is written to DVR_BENCH_RECEIPTS when the run stops.
Run it through bench/bench_load.py, not by hand."""

from __future__ import annotations

import json
import os
from itertools import count

from locust import HttpUser, between, events, task

with open(os.environ["DVR_BENCH_POOL"], encoding="ascii") as _pool:
    POOL = [line.encode() for line in _pool.read().splitlines()]
RECEIPTS: list[dict] = []
_next = count()
THINK = float(os.environ.get("DVR_BENCH_THINK", "0"))


class Registrant(HttpUser):
    wait_time = between(THINK * 0.5, THINK * 1.5) if THINK else between(0, 0)

    @task
    def submit(self) -> None:
        i = next(_next)
        if i >= len(POOL):
            self.environment.runner.quit()
            return
        with self.client.post(
            "/api/v1/submissions",
            data=POOL[i],
            headers={"Content-Type": "application/json"},
            name="POST /api/v1/submissions",
            catch_response=True,
        ) as resp:
            if resp.status_code == 201:
                RECEIPTS.append(resp.json())
                resp.success()
            else:
                resp.failure(f"status {resp.status_code}")


@events.test_stop.add_listener
def _dump(**_kwargs) -> None:
    with open(os.environ["DVR_BENCH_RECEIPTS"], "w", encoding="utf-8") as out:
        json.dump(RECEIPTS, out)
