"""Where inputs come from on disk: files, directories, maildirs, mbox files, JSON Lines.

Yields ``(source, bytes, format)`` triples for :func:`processor.intake.parse`; used by
the ``classify`` and ``eval`` commands alike so that both read a path the same way. An
RFC 5322 file that starts with an mbox ``From`` line is read as an mbox (it may hold
several messages); a ``.jsonl`` file gives one SMTP record per line.
"""

from __future__ import annotations

import mailbox
import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

INPUT_FORMATS = ("auto", "email", "jsonl", "mbox", "maildir")
EMAIL_SUFFIXES = frozenset({".eml", ".msg", ".email", ".txt"})
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})
MBOX_SUFFIXES = frozenset({".mbox", ".mbx"})

_MBOX_SEPARATOR = re.compile(rb"(?:\A|\n\n|\n)From [^\n]*\n")


class Input(NamedTuple):
    source: str  # the path as given; "path:N" for the Nth line / message of a file
    data: bytes
    format: str  # "email" | "json" | "missing"


def read_inputs(
    path: str, input_format: str = "auto", stdin: bytes | None = None
) -> Iterator[Input]:
    """Every input found at ``path`` (``-`` reads ``stdin``)."""
    if path == "-":
        yield from read_bytes("-", stdin or b"", input_format)
        return
    target = Path(path)
    if target.is_dir():
        if input_format == "maildir" or (
            input_format == "auto" and all((target / sub).is_dir() for sub in ("cur", "new"))
        ):
            yield from _read_maildir(target)
            return
        for child in sorted(p for p in target.rglob("*") if p.is_file()):
            if child.suffix.lower() in EMAIL_SUFFIXES | JSONL_SUFFIXES | MBOX_SUFFIXES:
                yield from read_inputs(str(child), input_format)
        return
    if not target.is_file():
        yield Input(path, b"", "missing")
        return
    suffix = target.suffix.lower()
    if input_format == "auto" and suffix in JSONL_SUFFIXES:
        input_format = "jsonl"
    elif input_format == "auto" and suffix in MBOX_SUFFIXES:
        input_format = "mbox"
    yield from read_bytes(path, target.read_bytes(), input_format)


def read_bytes(source: str, data: bytes, input_format: str = "auto") -> Iterator[Input]:
    """The inputs held in ``data``: JSON Lines, an mbox, or one message."""
    head = data.lstrip()[:5]
    if input_format == "jsonl" or (input_format == "auto" and head[:1] == b"{"):
        for number, line in enumerate(data.splitlines(), start=1):
            if line.strip():
                yield Input(f"{source}:{number}", line, "json")
    elif input_format == "mbox" or (input_format == "auto" and data.startswith(b"From ")):
        messages = split_mbox(data)
        if len(messages) == 1:
            yield Input(source, messages[0], "email")
            return
        for number, message in enumerate(messages, start=1):
            yield Input(f"{source}:{number}", message, "email")
    else:
        yield Input(source, data, "email")


def split_mbox(data: bytes) -> list[bytes]:
    """The messages of an mbox, without their ``From`` separator lines."""
    data = data.replace(b"\r\n", b"\n")
    starts = [m for m in _MBOX_SEPARATOR.finditer(data) if _is_separator(data, m.end())]
    if not starts:
        return [data]
    messages = []
    for number, match in enumerate(starts):
        end = starts[number + 1].start() if number + 1 < len(starts) else len(data)
        message = data[match.end() : end]
        if message.strip():
            messages.append(message)
    return messages or [data]


def _is_separator(data: bytes, next_line_start: int) -> bool:
    """A ``From`` line separates messages only when a header line follows it."""
    following = data[next_line_start : next_line_start + 200]
    return re.match(rb"[A-Za-z][A-Za-z0-9\-]*:", following) is not None


def _read_maildir(path: Path) -> Iterator[Input]:
    box = mailbox.Maildir(path, create=False)
    for key in sorted(box.iterkeys()):
        yield Input(f"{path}/{key}", box.get_bytes(key), "email")
