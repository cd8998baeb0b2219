"""Compact binary form of an :class:`AddressState`: the local store's values and the changelog.

One value is what the store keeps and what the changelog topic carries (key: the
address, UTF-8), so restoring a partition is copying bytes, with no decoding beyond the
fixed header. Layout, little-endian (format 1):

=====================  =====================================================================
``B``  format           1
``q``  due_at           epoch ms of the next timer transition, ``NO_TIME`` if none
``q``  changed_at       epoch ms, ``NO_TIME`` if none
``B``  status           index in ``STATUS_CODES``
``B``  change           index in ``CHANGE_CODES``, 0 = none
``H``  time codes       2 bits per optional time of ``_OPTIONAL_TIMES`` (see below)
``I``  error_count
…      optional times   per code: nothing, ``i`` ms before ``changed_at`` or ``q`` epoch ms
``B``  reason           ``quarantine_reason``: index in ``REASON_CODES``, 0 = none
str    ruleset_version  length-prefixed UTF-8 (``B``; 255 then ``H`` when longer)
str    policy_version
``B``  n                recent errors, then n × (``B`` reason index | time code << 6,
                        the time as above, str rule_id)
=====================  =====================================================================

Time codes: 0 absent, 1 equal to ``changed_at``, 2 a 32-bit offset in ms from
``changed_at`` (±24 days), 3 a full 64-bit epoch ms. Most times of a state are
``changed_at`` itself or close to it, which keeps a one-error state near 70 bytes.
``release_at`` (quarantined / denylisted) or ``errors_reset_at`` (with errors) is the
due time itself and is not written twice. Code tables only ever grow at the end; a new
layout gets a new format number and the decoder keeps reading the old ones.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

from processor.qualify.result import Reason
from processor.state.quarantine import AddressState, Change, RecordedError, Status, due_at

FORMAT = 1
NO_TIME = -(2**63)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)

STATUS_CODES: tuple[Status, ...] = (
    Status.VALID,
    Status.WITH_ERRORS,
    Status.QUARANTINED,
    Status.DENYLISTED,
)
CHANGE_CODES: tuple[Change | None, ...] = (
    None,
    Change.ERROR_COUNTED,
    Change.QUARANTINED,
    Change.DENYLISTED,
    Change.SUCCESS_RESET,
    Change.RELEASED,
    Change.COUNTER_RESET,
)
REASON_CODES: tuple[Reason | None, ...] = (
    None,
    Reason.USER_UNKNOWN,
    Reason.MAILBOX_FULL,
    Reason.INACTIVE_MAILBOX,
    Reason.INVALID_DOMAIN,
    Reason.REFUSED,
    Reason.UNREACHABLE,
    Reason.COMPLAINT,
    Reason.AUTO_REPLY,
    Reason.NOT_DEFINED,
)
_STATUS_INDEX = {status: index for index, status in enumerate(STATUS_CODES)}
_CHANGE_INDEX = {change: index for index, change in enumerate(CHANGE_CODES)}
_REASON_INDEX = {reason: index for index, reason in enumerate(REASON_CODES)}

_OPTIONAL_TIMES = (
    "first_error_at",
    "last_error_at",
    "errors_reset_at",
    "quarantined_at",
    "denylisted_at",
    "release_at",
)
# Which field the due time stands for, per status.
_DUE_FIELD = {
    Status.QUARANTINED: "release_at",
    Status.DENYLISTED: "release_at",
    Status.WITH_ERRORS: "errors_reset_at",
}

_HEADER = struct.Struct("<BqqBBHI")
_DUE = struct.Struct("<Bq")
_OFFSET = struct.Struct("<i")
_TIME = struct.Struct("<q")
_BYTE = struct.Struct("<B")
_SHORT = struct.Struct("<H")
_I32_MIN, _I32_MAX = -(2**31), 2**31 - 1

ABSENT, SAME, OFFSET, ABSOLUTE = 0, 1, 2, 3


def millis(moment: datetime) -> int:
    return (moment - EPOCH) // ONE_MS


def from_millis(value: int) -> datetime:
    return EPOCH + timedelta(0, 0, 0, value)  # positional: (days, seconds, µs, ms)


def _pack_text(text: str) -> bytes:
    data = text.encode("utf-8")
    if len(data) < 255:
        return _BYTE.pack(len(data)) + data
    if len(data) > 0xFFFF:
        raise ValueError(f"text too long for the state codec: {len(data)} bytes")
    return b"\xff" + _SHORT.pack(len(data)) + data


def _unpack_text(value: bytes, offset: int) -> tuple[str, int]:
    length = value[offset]
    offset += 1
    if length == 255:
        (length,) = _SHORT.unpack_from(value, offset)
        offset += 2
    return value[offset : offset + length].decode("utf-8"), offset + length


def _pack_time(moment: int, changed: int) -> tuple[int, bytes]:
    """The time code and bytes of ``moment`` (epoch ms) beside ``changed_at``."""
    if moment == changed:
        return SAME, b""
    offset = changed - moment
    if changed != NO_TIME and _I32_MIN <= offset <= _I32_MAX:
        return OFFSET, _OFFSET.pack(offset)
    return ABSOLUTE, _TIME.pack(moment)


def _unpack_time(code: int, value: bytes, offset: int, changed: int) -> tuple[int, int]:
    if code == SAME:
        return changed, offset
    if code == OFFSET:
        return changed - _OFFSET.unpack_from(value, offset)[0], offset + 4
    return _TIME.unpack_from(value, offset)[0], offset + 8


def encode_state(state: AddressState) -> bytes:
    """The stored / changelog form of ``state`` (without the address, which is the key)."""
    due = due_at(state)
    due_field = _DUE_FIELD.get(state.status)
    changed = NO_TIME if state.changed_at is None else millis(state.changed_at)
    codes = 0
    times: list[bytes] = []
    for index, name in enumerate(_OPTIONAL_TIMES):
        moment = getattr(state, name)
        if moment is not None and name != due_field:
            code, packed = _pack_time(millis(moment), changed)
            codes |= code << (2 * index)
            times.append(packed)
    parts = [
        _HEADER.pack(
            FORMAT,
            NO_TIME if due is None else millis(due),
            changed,
            _STATUS_INDEX[state.status],
            _CHANGE_INDEX[state.change],
            codes,
            state.error_count,
        ),
        *times,
        _BYTE.pack(_REASON_INDEX[state.quarantine_reason]),
        _pack_text(state.ruleset_version),
        _pack_text(state.policy_version),
        _BYTE.pack(len(state.recent_errors)),
    ]
    for error in state.recent_errors:
        code, packed = _pack_time(millis(error.event_time), changed)
        parts.append(_BYTE.pack(_REASON_INDEX[error.reason] | code << 6))
        parts.append(packed)
        parts.append(_pack_text(error.rule_id))
    return b"".join(parts)


def due_millis(value: bytes) -> int | None:
    """The due time of an encoded state, read from the fixed header (for store indexes)."""
    version, due = _DUE.unpack_from(value)
    if version != FORMAT:
        raise ValueError(f"unknown state format {version}")
    return None if due == NO_TIME else due


def decode_state(address: str, value: bytes) -> AddressState:
    """The state stored as ``value`` under ``address``."""
    version, due, changed, status_code, change_code, codes, error_count = _HEADER.unpack_from(value)
    if version != FORMAT:
        raise ValueError(f"unknown state format {version}")
    status = STATUS_CODES[status_code]
    offset = _HEADER.size
    changed_at = None if changed == NO_TIME else from_millis(changed)
    times: dict[str, datetime | None] = {"changed_at": changed_at}
    for index, name in enumerate(_OPTIONAL_TIMES):
        code = (codes >> (2 * index)) & 3
        if code == SAME:
            times[name] = changed_at
        elif code != ABSENT:
            moment, offset = _unpack_time(code, value, offset, changed)
            times[name] = from_millis(moment)
    due_field = _DUE_FIELD.get(status)
    if due_field is not None:
        times[due_field] = None if due == NO_TIME else from_millis(due)
    reason = REASON_CODES[value[offset]]
    offset += 1
    ruleset_version, offset = _unpack_text(value, offset)
    policy_version, offset = _unpack_text(value, offset)
    count = value[offset]
    offset += 1
    errors: list[RecordedError] = []
    for _ in range(count):
        packed = value[offset]
        code = packed >> 6
        if code == SAME:
            error_time, offset = changed_at, offset + 1
        else:
            moment, offset = _unpack_time(code, value, offset + 1, changed)
            error_time = from_millis(moment)
        rule_id, offset = _unpack_text(value, offset)
        error_reason = REASON_CODES[packed & 0x3F]
        if error_reason is None or error_time is None:
            raise ValueError(f"{address}: a recorded error without a reason or time")
        errors.append(RecordedError(error_reason, rule_id, error_time))
    return AddressState(
        address=address,
        status=status,
        error_count=error_count,
        quarantine_reason=reason,
        recent_errors=tuple(errors),
        change=CHANGE_CODES[change_code],
        ruleset_version=ruleset_version,
        policy_version=policy_version,
        **times,
    )
