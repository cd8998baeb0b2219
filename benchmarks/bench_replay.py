"""Replay throughput against the live pipeline's, measured in the same run.

Produces N raw events (emails, SMTP records, some garbage), runs the live qualification
loop over them (subscribed group, transactions, Avro, default rules) until every offset
is committed, then replays the same topic (bounded manual assignment, its own prefix and
group, same rules) and times it too. Prints medians over repetitions and the ratio.

    python benchmarks/bench_replay.py [--events 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

from bench_stream import delete_scratch_topics, run_loop, scratch_settings

from processor.config import ProcessorSettings
from processor.sample_events import generate
from processor.stream.qualify_app import qualify_task
from processor.stream.replay import _run_bounded, plan, replay_settings
from processor.stream.stage import RuleSource, register_schemas
from processor.stream.topics import ensure_topics


def one_run(count: int, used: list[ProcessorSettings]) -> tuple[float, float]:
    """(live, replay) events/s; both timed from the first poll, set-up excluded. The
    run's settings are added to ``used``."""
    live = scratch_settings()
    used.append(live)
    live_rate = run_loop(live, generate(count, garbage_every=50), None)
    settings = replay_settings(live, f"{live.instance_id}-replay", None)
    used.append(settings)
    ensure_topics(settings)
    register_schemas(settings)
    rules = RuleSource(settings)
    task = qualify_task(settings, rules)
    bounds = plan(settings, live.topics.raw, "earliest", None, False, settings.group_id)
    started = time.perf_counter()
    code, progress = _run_bounded(
        settings,
        task,
        bounds,
        settings.group_id,
        settings.instance_id,
        "replay",
        io.StringIO(),
        lambda _loop: None,
    )
    task.close()
    assert code == 0 and sum(progress.done.values()) == count
    return live_rate.rate, count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    used: list[ProcessorSettings] = []
    runs = [one_run(args.events, used) for _ in range(args.repeat)]
    delete_scratch_topics(used)
    live = statistics.median(r[0] for r in runs)
    replay = statistics.median(r[1] for r in runs)
    print(f"live pipeline  median {live:9.0f} events/s  runs {[round(r[0]) for r in runs]}")
    print(f"replay         median {replay:9.0f} events/s  runs {[round(r[1]) for r in runs]}")
    print(f"ratio replay / live: {replay / live:.2f}")


if __name__ == "__main__":
    main()
