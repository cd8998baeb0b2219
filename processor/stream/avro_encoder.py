"""Schema-compiled Avro binary encoders for the output events (the hot path).

fastavro interprets the schema for every record it writes: about 1 to 1.6 µs per field
here, some 40 µs for one failure event, and a quarter of the qualify stage's time per
event (sampled in the loop with py-spy). :func:`compile_encoder` walks a schema once and
returns one function per type that writes straight into a ``bytearray``: for a record,
a function generated from source with its plain fields written inline; for the other
types, closures.

Only what our schemas use is compiled: records, ``null``, ``boolean``, ``int``,
``long`` (also ``timestamp-millis`` from an ``int`` or a ``datetime``), ``float``,
``double``, ``string``, ``bytes``, arrays, maps, named-type references and unions of
``null`` with one other type. Any other construct makes :func:`compile_encoder` return
None, and the caller uses fastavro. fastavro stays the reference: the tests check that the
bytes are the same on generated records of every schema in ``schemas/``, and the
serialiser hands any record that the compiled encoder refuses (a wrong type, a missing
field) to fastavro, which then writes it or raises its usual error.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Encode = Callable[[bytearray, Any], None]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_PACK_FLOAT = struct.Struct("<f").pack
_PACK_DOUBLE = struct.Struct("<d").pack
# one-byte varints: the zigzag form of 0..63 (lengths and small counts)
_SMALL = [bytes([n << 1]) for n in range(64)]


class Unsupported(Exception):
    """A schema construct this module does not compile (fastavro writes it)."""


def _varint(out: bytearray, n: int) -> None:
    """An already zigzagged, non-negative number as a base-128 varint."""
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


# Python source that writes the value in ``v`` to ``out``, by the type's simple name (see
# _simple_type): the body of the primitive writers below, and inlined as it is into the
# generated record writers (_generate_record_writer). An int or long is an exact int (a
# bool or a float is refused: fastavro decides on those), zigzagged, base-128 varint;
# a string or bytes is its length, then its (UTF-8) bytes.
_SIZED_SOURCE = """\
if type(v) is not TYPE:
    raise TypeError(f"expected TYPE, got {type(v).__name__}")
b = ENCODED
n = len(b)
if n < 64:
    out.append(n << 1)
else:
    _varint(out, n << 1)
out += b"""
_INTEGER_SOURCE = """\
if type(v) is not int:
    raise TypeError(f"expected an int, got {type(v).__name__}")
if not -LIMIT <= v < LIMIT:
    raise OverflowError(f"{v} does not fit an Avro NAME")
n = (v << 1) ^ (v >> SHIFT)
while n > 0x7F:
    out.append((n & 0x7F) | 0x80)
    n >>= 7
out.append(n)"""
_INLINE_SOURCE = {
    "string": _SIZED_SOURCE.replace("TYPE", "str").replace("ENCODED", "v.encode()"),
    "bytes": _SIZED_SOURCE.replace("TYPE", "bytes").replace("ENCODED", "v"),
    "int": _INTEGER_SOURCE.replace("LIMIT", str(1 << 31))
    .replace("SHIFT", "31")
    .replace("NAME", "int"),
    "long": _INTEGER_SOURCE.replace("LIMIT", str(1 << 63))
    .replace("SHIFT", "63")
    .replace("NAME", "long"),
}


def _writer_from_source(name: str, source: str) -> Callable[[bytearray, Any], None]:
    """A function ``name(out, v)`` whose body is ``source``."""
    namespace: dict[str, Any] = {"_varint": _varint}
    body = "\n".join(_indented(source, 1))
    exec(compile(f"def {name}(out, v):\n{body}", f"<avro {name}>", "exec"), namespace)
    function: Callable[[bytearray, Any], None] = namespace[name]
    return function


def _indented(source: str, depth: int) -> list[str]:
    return [" " * (4 * depth) + line for line in source.splitlines()]


write_int = _writer_from_source("write_int", _INLINE_SOURCE["int"])
write_long = _writer_from_source("write_long", _INLINE_SOURCE["long"])
write_string = _writer_from_source("write_string", _INLINE_SOURCE["string"])
write_bytes = _writer_from_source("write_bytes", _INLINE_SOURCE["bytes"])


#: ``["null", "string"]``, the commonest field of our events, in one call
def _optional_source(null_index: int, simple: str) -> list[str]:
    """Source writing ``v`` of the union ``["null", T]`` (``null_index`` 0) or ``[T,
    "null"]`` (1), T of the simple type ``simple``: the branch index, then the value."""
    return [
        "if v is None:",
        f"    out.append({0 if null_index == 0 else 2})",
        "else:",
        f"    out.append({2 if null_index == 0 else 0})",
        *_indented(_INLINE_SOURCE[simple], 1),
    ]


write_optional_string = _writer_from_source(
    "write_optional_string", "\n".join(_optional_source(0, "string"))
)


def write_boolean(out: bytearray, value: bool) -> None:
    if type(value) is not bool:
        raise TypeError(f"expected a bool, got {type(value).__name__}")
    out.append(1 if value else 0)


def write_float(out: bytearray, value: float) -> None:
    out += _PACK_FLOAT(value)


def write_double(out: bytearray, value: float) -> None:
    out += _PACK_DOUBLE(value)


def write_null(out: bytearray, value: None) -> None:
    if value is not None:
        raise TypeError(f"expected None, got {type(value).__name__}")


def write_timestamp_millis(out: bytearray, value: int | datetime) -> None:
    """Milliseconds since the epoch; a naive datetime counts as UTC (as in fastavro)."""
    if type(value) is int:
        write_long(out, value)
        return
    if not isinstance(value, datetime):
        raise TypeError(f"expected an int or a datetime, got {type(value).__name__}")
    delta = value - (_EPOCH if value.tzinfo is not None else _EPOCH_NAIVE)
    write_long(out, (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000)


_PRIMITIVES: dict[str, Encode] = {
    "null": write_null,
    "boolean": write_boolean,
    "int": write_int,
    "long": write_long,
    "float": write_float,
    "double": write_double,
    "string": write_string,
    "bytes": write_bytes,
}


def compile_encoder(schema: Any) -> Encode | None:
    """An encoder for ``schema`` (parsed JSON of an ``.avsc``), or None when the schema
    uses a construct not compiled here."""
    try:
        return _Compiler().compile(schema, namespace="")
    except Unsupported:
        return None


@dataclass(frozen=True)
class _Field:
    name: str
    schema: Any
    encode: Encode
    declaration: Mapping[str, Any]


def _simple_type(schema: Any) -> str | None:
    """``string``, ``bytes``, ``int`` or ``long`` for a schema of that plain type (no
    logical type), else None."""
    if isinstance(schema, Mapping) and set(schema) == {"type"}:
        schema = schema["type"]
    return schema if isinstance(schema, str) and schema in _INLINE_SOURCE else None


def _generate_record_writer(fullname: str, fields: list[_Field]) -> Encode:
    """One function writing a record: fields of a plain type, optional ones (``["null",
    T]``), maps of a plain type and ``timestamp-millis`` given as an int are written
    inline, the others by their encoders. Generated from source, as :mod:`dataclasses`
    generates ``__init__``: a failure event (33 fields) then costs a few calls instead of
    about a hundred, a third fewer instructions than a loop over per-field closures."""
    namespace: dict[str, Any] = {"_varint": _varint}
    lines = ["def write_record(out, value):"]
    for i, f in enumerate(fields):
        if "default" in f.declaration:
            # (a subscript in a try costs less than a call of .get when the field is there)
            namespace[f"_default{i}"] = f.declaration["default"]
            lines += [
                "    try:",
                f"        v = value[{f.name!r}]",
                "    except KeyError:",
                f"        v = _default{i}",
            ]
        else:
            lines.append(f"    v = value[{f.name!r}]")
        inline = _inline_source(f)
        if inline is None:
            namespace[f"_encode{i}"] = f.encode
            inline = [f"_encode{i}(out, v)"]
        elif f.encode is write_timestamp_millis:
            namespace[f"_encode{i}"] = f.encode
            inline = [*inline, "else:", f"    _encode{i}(out, v)"]  # a datetime
        lines += ["    " + line for line in inline]
    if not fields:
        lines.append("    pass")
    exec(compile("\n".join(lines), f"<avro record writer {fullname}>", "exec"), namespace)
    function: Encode = namespace["write_record"]
    return function


def _inline_source(f: _Field) -> list[str] | None:
    """Statements writing the field's value ``v``, or None when it takes its encoder."""
    simple = _simple_type(f.schema)
    if simple is not None:
        return _INLINE_SOURCE[simple].splitlines()
    if f.encode is write_timestamp_millis:  # int milliseconds here, else the encoder
        return ["if type(v) is int:", *_indented(_INLINE_SOURCE["long"].split("\n", 2)[2], 1)]
    if isinstance(f.schema, Mapping) and f.schema.get("type") == "map":
        simple = _simple_type(f.schema.get("values"))
        if simple is None:
            return None
        return [
            "if not isinstance(v, dict):",
            '    raise TypeError(f"expected a dict, got {type(v).__name__}")',
            "if v:",
            "    n = len(v) << 1",
            "    if n < 128:",
            "        out.append(n)",
            "    else:",
            "        _varint(out, n)",
            "    for k, x in v.items():",  # (v is rebound below; the loop holds its items)
            "        v = k",
            *_indented(_INLINE_SOURCE["string"], 2),
            "        v = x",
            *_indented(_INLINE_SOURCE[simple], 2),
            "out.append(0)",
        ]
    branches = f.schema
    if isinstance(branches, list) and len(branches) == 2 and "null" in branches:
        null_index = branches.index("null")
        simple = _simple_type(branches[1 - null_index])
        if simple is not None:
            return _optional_source(null_index, simple)
    return None


class _Compiler:
    def __init__(self) -> None:
        self.named: dict[str, Encode] = {}

    def compile(self, schema: Any, namespace: str) -> Encode:
        if isinstance(schema, str):
            return self._by_name(schema, namespace)
        if isinstance(schema, list):
            return self._union(schema, namespace)
        if not isinstance(schema, Mapping):
            raise Unsupported(f"schema {schema!r}")
        kind = schema.get("type")
        logical = schema.get("logicalType")
        if kind == "long" and logical == "timestamp-millis":
            return write_timestamp_millis
        if logical is not None:
            raise Unsupported(f"logical type {logical}")
        if kind == "record":
            return self._record(schema, namespace)
        if kind == "array":
            return self._array(self.compile(schema["items"], namespace))
        if kind == "map":
            return self._map(self.compile(schema["values"], namespace))
        if isinstance(kind, str) and kind in _PRIMITIVES:
            return self._by_name(kind, namespace)
        raise Unsupported(f"type {kind!r}")

    def _by_name(self, name: str, namespace: str) -> Encode:
        if name in _PRIMITIVES:
            return _PRIMITIVES[name]
        for candidate in (f"{namespace}.{name}" if namespace else name, name):
            if candidate in self.named:
                return self.named[candidate]
        raise Unsupported(f"named type {name!r} (undefined here, or recursive)")

    def _record(self, schema: Mapping[str, Any], namespace: str) -> Encode:
        name = str(schema["name"])
        space = str(schema.get("namespace", namespace))
        if "." in name:
            space = name.rsplit(".", 1)[0]
        fullname = name if "." in name or not space else f"{space}.{name}"
        fields = [
            _Field(str(field["name"]), field["type"], self.compile(field["type"], space), field)
            for field in schema["fields"]
        ]
        write_record = _generate_record_writer(fullname, fields)
        self.named[fullname] = write_record
        return write_record

    def _union(self, branches: list[Any], namespace: str) -> Encode:
        if len(branches) != 2 or "null" not in branches:
            raise Unsupported(f"union {branches!r}")
        null_index = branches.index("null")
        other = self.compile(branches[1 - null_index], namespace)
        if null_index == 0 and other is write_string:
            return write_optional_string
        null_tag = _SMALL[0] if null_index == 0 else b"\x02"
        other_tag = b"\x02" if null_index == 0 else _SMALL[0]

        def write_optional(out: bytearray, value: Any) -> None:
            if value is None:
                out += null_tag
            else:
                out += other_tag
                other(out, value)

        return write_optional

    @staticmethod
    def _array(items: Encode) -> Encode:
        def write_array(out: bytearray, value: Any) -> None:
            if not isinstance(value, list | tuple):
                raise TypeError(f"expected a list, got {type(value).__name__}")
            if value:
                write_long(out, len(value))
                for item in value:
                    items(out, item)
            out.append(0)

        return write_array

    @staticmethod
    def _map(values: Encode) -> Encode:
        def write_map(out: bytearray, value: Any) -> None:
            if not isinstance(value, dict):
                raise TypeError(f"expected a dict, got {type(value).__name__}")
            if value:
                write_long(out, len(value))
                for key, item in value.items():
                    write_string(out, key)
                    values(out, item)
            out.append(0)

        return write_map
