"""Running one or several stages in one process, with signal handling."""

from __future__ import annotations

import gc
import logging
import signal
import threading

from processor.config import ProcessorSettings
from processor.stream.stage import StageRunner

log = logging.getLogger(__name__)

STAGES = ("qualify", "state", "all")


def build_stages(settings: ProcessorSettings, stage: str) -> list[StageRunner]:
    from processor.stream.qualify_app import build_qualify_stage
    from processor.stream.state_stage import build_state_stage

    if stage == "qualify":
        return [build_qualify_stage(settings)]
    if stage == "state":
        return [build_state_stage(settings)]
    if stage == "all":
        # One HTTP port serves the qualify stage; the state stage's takes the next one.
        port = settings.http.port
        return [
            build_qualify_stage(settings),
            build_state_stage(settings, http_port=port + 1 if port else 0),
        ]
    raise ValueError(f"unknown stage {stage!r}; use one of {STAGES}")


def build_and_run(settings: ProcessorSettings, stage: str) -> int:
    """``bounce-processor run``: SIGTERM / SIGINT are honoured from the first moment, also
    while the stages are still starting (restoring, loading rules)."""
    stages: list[StageRunner] = []
    stopping = threading.Event()

    def stop_all(*_: object) -> None:
        stopping.set()
        for built in stages:
            built.stop()

    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    stages.extend(build_stages(settings, stage))
    # What start-up built (rule engines: ~10^5 objects) lives as long as the process;
    # frozen, it stays out of every later garbage collection.
    gc.freeze()
    if stopping.is_set():
        stop_all()
    return run_stages(stages)


def run_stages(stages: list[StageRunner], install_signals: bool = False) -> int:
    """Run every stage until stopped or until one fails; the worst exit code."""
    if install_signals:

        def stop_all(*_: object) -> None:
            for stage in stages:
                stage.stop()

        signal.signal(signal.SIGTERM, stop_all)
        signal.signal(signal.SIGINT, stop_all)
    if len(stages) == 1:
        return stages[0].run()
    codes: dict[str, int] = {}

    def run_one(stage: StageRunner) -> None:
        codes[stage.name] = stage.run()
        if codes[stage.name] != 0:  # one failed: stop the others, the pod restarts
            for other in stages:
                other.stop()

    threads = [threading.Thread(target=run_one, args=(s,), name=s.name) for s in stages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return max(codes.values(), default=0)
