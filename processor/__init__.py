"""bounce-processor: a streaming email bounce processor on Apache Kafka.

The package reads as the data flows:

- ``processor.intake``: raw bytes (DSN, non-standard bounce bodies, ARF, SMTP records)
  into typed :class:`~processor.intake.record.BounceRecord` objects. Pure, no Kafka.
- ``processor.qualify``: records plus a rule set into a qualification (type, reason,
  detail, rule id, rule-set version). Pure, no Kafka.
- ``processor.state``: quarantine and MX-route policies as pure functions of event time.
- ``processor.stream``: the only layer that talks to Kafka and the schema registry.
- ``processor.ops``: health, readiness, metrics and lookup over HTTP; logging.
- ``processor.cli``: the ``bounce-processor`` command.
"""

__version__ = "0.1.0"
