"""Prometheus metrics of the processor (served on ``/metrics`` by ``processor.ops.http``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

REGISTRY = CollectorRegistry(auto_describe=True)

consumed = Counter("bounce_consumed_total", "Raw events read", ["topic"], registry=REGISTRY)
produced = Counter(
    "bounce_produced_total", "Records written, by output topic", ["topic"], registry=REGISTRY
)
dead_lettered = Counter(
    "bounce_dead_lettered_total",
    "Raw events sent to the dead-letter topic",
    ["stage", "error_class"],
    registry=REGISTRY,
)
qualified = Counter(
    "bounce_qualified_total",
    "Failure records by type and reason",
    ["failure_type", "reason"],
    registry=REGISTRY,
)
rule_timeouts = Counter(
    "bounce_rule_timeouts_total",
    "Rule matches that hit their time limit",
    ["rule_id"],
    registry=REGISTRY,
)
memo_lookups = Counter(
    "bounce_memo_lookups_total",
    "Look-ups in the qualify stage's memos (reply: SMTP intake's reading of a logged reply;"
    " decision: the engine's), by result (hit, miss); none while a memo rests",
    ["memo", "result"],
    registry=REGISTRY,
)
memo_rests = Counter(
    "bounce_memo_rests_total",
    "Times a memo emptied and rested, too few of its look-ups hitting",
    ["memo"],
    registry=REGISTRY,
)
transactions = Counter(
    "bounce_transactions_total", "Kafka transactions by outcome", ["outcome"], registry=REGISTRY
)
commit_latency = Histogram(
    "bounce_transaction_commit_seconds",
    "Time to commit one transaction",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
stalled_fetches = Counter(
    "bounce_stalled_fetches_total",
    "Bounded runs (replays) that received nothing for a while and assigned again",
    registry=REGISTRY,
)
batch_size = Histogram(
    "bounce_batch_records",
    "Raw events per transaction",
    buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000),
    registry=REGISTRY,
)
consumer_lag = Gauge(
    "bounce_consumer_lag",
    "Messages behind the high watermark",
    ["topic", "partition"],
    registry=REGISTRY,
)
assigned_partitions = Gauge(
    "bounce_assigned_partitions", "Partitions assigned to this instance", registry=REGISTRY
)
state_store_bytes = Gauge(
    "bounce_state_store_bytes", "Size of the local state store", registry=REGISTRY
)
restore_progress = Gauge(
    "bounce_restore_progress_ratio", "Changelog restore progress (1 = restored)", registry=REGISTRY
)
ruleset = Info("bounce_ruleset", "Active rule-set version and mode", registry=REGISTRY)
