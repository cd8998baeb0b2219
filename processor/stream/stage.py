"""What every stage shares: where its rules come from, and the process around its loop
(HTTP port, heartbeat, rule swaps, stop)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from processor.config import ProcessorSettings, RulesMode
from processor.ops import metrics
from processor.ops.http import Lookup, OpsServer, poll_liveness
from processor.paths import rules_dir
from processor.stream import avro
from processor.stream.rules_sync import Heartbeat, RulesFollower
from processor.stream.transactional import TransactionalLoop

log = logging.getLogger(__name__)

# Which schema each topic's values carry (attribute of TopicSettings → schema name).
TOPIC_SCHEMAS = {
    "failures": "failure_event",
    "unqualified": "failure_event",
    "dlq": "dead_letter",
    "raw": "raw_envelope",
    "quarantine": "quarantine_state",
    "mx_policy": "mx_policy",
}


def register_schemas(settings: ProcessorSettings) -> dict[str, int]:
    """Register every schema under its topic's value subject, BACKWARD compatible."""
    client = avro.registry_client(settings.registry.url, settings.registry.client)
    ids = {}
    for attribute, schema_name in TOPIC_SCHEMAS.items():
        topic = getattr(settings.topics, attribute)
        avro.set_backward_compatibility(client, topic)
        ids[topic] = avro.register_schema(client, topic, schema_name)
    return ids


def load_engine_from(folder: Path | None) -> Any:
    from processor.qualify import load_engine

    return load_engine(rules_dir=folder)


def engine_version(engine: Any) -> str:
    return str(getattr(getattr(engine, "ruleset", None), "version", "unknown"))


class RuleSource:
    """Where a stage's rules come from, and when they change.

    ``custom`` mode: the local folder (``rules.dir``), sync off. ``published`` mode: the
    active version on ``bounces.rules`` (the shipped default until one is published),
    adopted by :meth:`swap_if_published`, which stages call only between transactions.
    ``folder`` always holds the files of the version in use, ``engine`` its qualifier.
    """

    def __init__(self, settings: ProcessorSettings) -> None:
        self.settings = settings
        self.mode = settings.rules.mode
        self.follower: RulesFollower | None = None
        self.folder: Path = settings.rules.dir or rules_dir()
        self.engine = load_engine_from(self.folder)
        self.version = engine_version(self.engine)
        if self.mode is RulesMode.CUSTOM:
            self.origin = "local folder"
            log.info("rules: custom mode, sync off; using %s (%s)", self.folder, self.version)
        else:
            self.origin = "embedded default"
            self.follower = RulesFollower(settings).start()
            self.swap_if_published()
        self._report()

    def swap_if_published(self) -> bool:
        """Adopt the published active version if it differs; True if the rules changed."""
        if self.follower is None:
            return False
        package = self.follower.active_package()
        if package is None or package.version == self.version:
            return False
        try:
            folder = package.unpack()
            engine = load_engine_from(folder)
        except Exception as error:
            log.error("rules: cannot load published version %s: %s", package.version, error)
            return False
        log.info("rules: switching from %s to published %s", self.version, package.version)
        self.engine, self.folder, self.origin = engine, folder, "published"
        self.version = engine_version(engine)
        self._report()
        return True

    def _report(self) -> None:
        metrics.ruleset.info({"version": self.version, "mode": self.mode.value})

    def describe(self) -> dict[str, Any]:
        return {
            "ruleset_version": self.version,
            "rules_mode": self.mode.value,
            "rules_origin": self.origin,
            "rules_sync": "off" if self.mode is RulesMode.CUSTOM else "on",
        }

    def close(self) -> None:
        if self.follower is not None:
            self.follower.stop()


class StageRunner:
    """Runs one stage's loop with its HTTP port and heartbeat, until :meth:`stop`."""

    def __init__(
        self,
        name: str,
        settings: ProcessorSettings,
        loop: TransactionalLoop,
        rules: RuleSource,
        lookups: dict[str, Lookup] | None = None,
        http_port: int | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.loop = loop
        self.rules = rules
        self.lookups = lookups or {}
        self.http_port = settings.http.port if http_port is None else http_port
        self.heartbeat = Heartbeat(settings, name, rules.describe)
        self.server: OpsServer | None = None

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        health = self.loop.health
        ready = health.joined and health.outage_since is None and health.restored
        return ready, {
            "stage": self.name,
            "assigned": sorted(f"{t}[{p}]" for t, p in health.assigned),
            "restored": health.restored,
            "broker_outage": health.outage_since is not None,
            **self.rules.describe(),
        }

    def liveness(self) -> tuple[bool, dict[str, Any]]:
        max_silence = max(10.0, self.settings.batch.max_ms / 1000 * 10)
        check: Callable[[], tuple[bool, dict[str, Any]]] = poll_liveness(
            lambda: self.loop.health.last_poll or time.monotonic(), max_silence
        )
        ok, details = check()
        return ok, {"stage": self.name, **details, **self.rules.describe()}

    def start_http(self) -> None:
        if not self.settings.http.enabled or self.http_port < 0:
            return
        self.server = OpsServer(
            self.settings.http.host,
            self.http_port,
            liveness=self.liveness,
            readiness=self.readiness,
            lookups=self.lookups,
        ).start()
        log.info("%s stage: HTTP on %s:%d", self.name, self.settings.http.host, self.server.port)

    def run(self) -> int:
        self.start_http()
        self.heartbeat.start()
        log.info(
            "%s stage %s: rules %s (%s mode)",
            self.name,
            self.settings.instance_id,
            self.rules.version,
            self.rules.mode.value,
        )
        try:
            return self.loop.run()
        finally:
            self.loop.task.close()
            self.heartbeat.stop()
            self.rules.close()
            if self.server is not None:
                self.server.stop()

    def stop(self) -> None:
        self.loop.request_stop()
