"""Event times are written as Avro ``timestamp-millis`` ints computed by the processor;
they must encode exactly as fastavro's own conversion of the datetime would."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone

import fastavro
from hypothesis import given
from hypothesis import strategies as st

from processor.stream.events import utc_millis

SCHEMA = fastavro.parse_schema(
    {
        "type": "record",
        "name": "T",
        "fields": [{"name": "t", "type": {"type": "long", "logicalType": "timestamp-millis"}}],
    }
)


def encoded(value: object) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, SCHEMA, {"t": value})
    return out.getvalue()


@given(
    st.datetimes(
        min_value=datetime(1900, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7, minutes=-30))]),
    )
)
def test_millis_encode_like_fastavro_datetimes(moment: datetime) -> None:
    assert encoded(utc_millis(moment)) == encoded(moment)


def test_known_values() -> None:
    assert utc_millis(datetime(1970, 1, 1, tzinfo=UTC)) == 0
    assert utc_millis(datetime(2026, 11, 27, 12, 0, 0, 123999, tzinfo=UTC)) == 1_795_780_800_123
    assert utc_millis(datetime(1969, 12, 31, 23, 59, 59, 999500, tzinfo=UTC)) == -1
