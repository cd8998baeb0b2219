"""Building blocks for dialect parsers: find recipients and their reasons in bounce text.

Most non-standard bounces say, in some language, "these addresses failed, because ...":
an address on a line, then the remote server's reply or a sentence. The helpers here
cut such text into (recipient, diagnostic) pairs so that a dialect parser only needs to
know where its MTA's report starts and ends, and how it marks recipients.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from processor.intake.record import BounceRecord
from processor.intake.text import find_addresses, find_reply_code, find_status, is_system_address
from processor.intake.view import MessageView

MAX_DIAGNOSTIC_LINES = 12

_QUOTED_HEADER_LINE = re.compile(
    r"^\s*(?:Message-ID|Message-Id|In-Reply-To|References|Return-Path|Received|From|Sender|"
    r"Reply-To|Envelope-From|X-[\w-]+|DKIM-Signature|Authentication-Results|Date|To|Cc|"
    r"Subject):|"
    # a localized sender label ("发件人：", "差出人:", "Absender:", "Expéditeur :") names the
    # sender of the returned message, not a failed recipient
    r"(?:>\s*)*(?:发件人|發件人|寄件者|寄件人|差出人|送信者|보낸\s?사람|Absender|Exp[ée]diteur|"
    r"Remitente|Remetente|Mittente|Nadawca|Отправитель)\s*[:：]",
    re.IGNORECASE,
)
_URL = re.compile(r"(?:https?|mailto):\S+", re.IGNORECASE)
# Postfix's "<final> (expanded from <alias>):" - the alias (which a paste may wrap onto the
# next line, and without its <>) is the address that was written to, not a second failure
_EXPANDED_FROM = re.compile(r"\(expanded\s+from\s+<?([^\s<>()]+@[^\s<>():]+?)>?\)?:", re.IGNORECASE)
#: a host name (or IPv4 address) as the remote-server patterns read it: dotted labels, an
#: internationalized one (IDN) in its Unicode form too ("mx.bücher.example"), the last label
#: ASCII (a top-level domain or its A-label), so that text run on after it in a script
#: without spaces ("mx.example.comへの接続") is not taken into the name
HOST_NAME = r"[^\W_][\w.\-]*\.[A-Za-z0-9\-]+"
# (the lookahead names the first letters of the alternatives: a cheap check before them)
# ("host: mx.example.com (192.0.2.1) reason: ..." and "Remote system: dns; mx.example.com"
# are labelled fields: a colon, full-width in bilingual CJK notices, and a DSN-style
# "dns;" may stand between the lead word and the host)
_REMOTE_HOST = re.compile(
    r"\b(?=[bhmrs])(?:host|remote host|server|mx|mail server|by|remote system|remote mta)"
    r"(?:\)?[ \t]*[:\uff1a][ \t]*(?:dns;[ \t]*)?|\s+)"
    r"\[?(" + HOST_NAME + r")\]?"
    r"(?:\s*\[[\d.:a-fA-F]+\])?\s*(?:said|says|replied|responded|\[|:|\()",
    re.IGNORECASE,
)
# the same as a labelled field of its own: "Remote server: mx.example.com" (the host and
# nothing after it; "Remote server response: 550 ..." is the reply, not the host)
_REMOTE_HOST_FIELD = re.compile(
    r"\b(?=[rR])remote[ \t]+(?:server|host|mta)[ \t]*:[ \t]*"
    r"\[?(" + HOST_NAME + r")\]?[ \t]*(?:\n|$)",
    re.IGNORECASE,
)


def listed_recipients(pattern: re.Pattern[str], text: str) -> list[str]:
    """The addresses in ``pattern``'s matches over ``text`` (a dialect's recipient lines,
    ``<a@b>:``), each once, first mention first."""
    return list(dict.fromkeys(a for found in pattern.findall(text) for a in find_addresses(found)))


def candidate_recipients(
    view: MessageView, text: str, *, include_parties: bool = True
) -> list[str]:
    """Addresses in ``text`` that can be failed recipients (not the bounce's own parties).

    With ``include_parties``, the bounce's own To address is returned when nothing else
    is named (someone who wrote to themselves).
    """
    excluded = view.sender_addresses
    aliases = {a.lower() for a in _EXPANDED_FROM.findall(text)}
    found: list[str] = []
    parties: list[str] = []
    for line in text.split("\n"):
        if "@" not in line or _QUOTED_HEADER_LINE.match(line):  # no address, or a header
            continue
        for address in find_addresses(_URL.sub(" ", line)):
            if is_system_address(address) or address == view.from_address:
                continue
            if address in aliases:  # find_addresses lower-cases, as the alias set is
                continue  # "(expanded from <alias>)": the same failure, named by its alias
            bucket = parties if address in excluded else found
            if address not in bucket:
                bucket.append(address)
    if found or not include_parties:
        return found
    # A bounce about a message one sent to oneself names the sender as the recipient.
    return parties[:1]


def recipient_blocks(
    view: MessageView, text: str, *, recipients: Iterable[str] | None = None
) -> list[tuple[str, str]]:
    """(recipient, the text about it) for every failed recipient named in ``text``.

    The text about a recipient runs from the line naming it to the line naming the next
    one (at most :data:`MAX_DIAGNOSTIC_LINES` lines, stopping at a second blank line).
    """
    wanted = list(recipients) if recipients is not None else candidate_recipients(view, text)
    if not wanted:
        return []
    lines = text.split("\n")
    wanted_set = set(wanted)
    first_line_of: dict[str, int] = {}
    named_on: dict[int, set[str]] = {}
    for number, line in enumerate(lines):
        if "@" not in line or _QUOTED_HEADER_LINE.match(line):  # addresses hold an "@"
            continue
        # whole addresses only: "user@example.org" is not named by "newuser@example.org"
        named = wanted_set.intersection(find_addresses(line))
        if named:
            named_on[number] = named
        for address in named:
            first_line_of.setdefault(address, number)
    starts = sorted(set(first_line_of.values()))
    blocks = []
    for address in wanted:
        start = first_line_of.get(address)
        if start is None:
            blocks.append((address, ""))
            continue
        later = [s for s in starts if s > start]
        end = min(later[0] if later else len(lines), start + MAX_DIAGNOSTIC_LINES)
        # a bounce forwarded inline and quoted ("> <a@b>: host ... said: 550"): the
        # quote marks of the recipient's line are taken off the lines of its block
        quoted = _QUOTE_MARK.match(lines[start]) is not None
        chunk: list[str] = []
        blanks = 0
        for number in range(start, end):
            line = lines[number]
            if address not in named_on.get(number, {address}):
                continue  # a line about another recipient (a summary list named it first)
            if quoted:
                line = _QUOTE_MARK.sub("", line, count=1)
            if chunk and _is_banner(line):
                if _original_follows(lines, number + 1, end):
                    break  # "--- Les en-têtes du message original suivent ---"
                continue  # "----- Transcript of session follows -----": not a reason
            if not line.strip():
                blanks += 1
                if blanks >= 2 and any(c.strip() for c in chunk[1:]):
                    break
                continue
            blanks = 0
            chunk.append(line.strip())
        blocks.append((address, "\n".join(chunk)))
    return blocks


_QUOTE_MARK = re.compile(r"^[ \t]*>(?![>])[ \t]?")


def _is_banner(line: str) -> bool:
    """A section banner line (``----- Transcript of session follows -----``)."""
    return line.lstrip(" \t|").startswith(_BANNER)


def _original_follows(lines: list[str], start: int, end: int) -> bool:
    """True when the first non-blank line from ``start`` is a header of a quoted
    original (the banner above it introduces the returned message, in any language)."""
    for number in range(start, min(end + 2, len(lines))):
        line = lines[number]
        if line.strip():
            return _QUOTED_HEADER_LINE.match(line) is not None
    return False


MAX_CONTINUATION_LINES = 3
# a header or report field ("X-Spam-Details: ..."), which never continues a reply
_FIELD_LINE = re.compile(r"^[A-Za-z][A-Za-z0-9-]*:[ \t]")


def reason_lines(text: str) -> str:
    """The lines of ``text`` that carry an SMTP reply or an enhanced status, joined, each
    with the lines that continue it up to a blank line (a reply wrapped over lines:
    ``said: 550 5.1.1`` / ``<a@b>: User unknown (in reply to RCPT TO command)``); a
    header-like ``Name: value`` line ends it."""
    keep: list[str] = []
    continued = MAX_CONTINUATION_LINES + 1
    for line in text.split("\n"):
        stripped = line.strip()
        if find_status(line) or find_reply_code(line):
            keep.append(stripped)
            continued = 0
        elif stripped and continued < MAX_CONTINUATION_LINES and not _FIELD_LINE.match(line):
            keep[-1] += " " + stripped
            continued += 1
        else:
            continued = MAX_CONTINUATION_LINES + 1
    return "\n".join(keep)


# the host a connection was (or was not) made to: Postfix "connect to mx.example.org
# [192.0.2.1]:25: Connection timed out", qmail "Connected to 192.0.2.1 but sender was
# rejected." (the lookahead names the first letter: a cheap check before the words)
_CONNECTED_HOST = re.compile(
    r"\b(?=[cC])connect(?:ed)?[ \t]+to[ \t]+\[?(" + HOST_NAME + r")\]?"
    r"(?:\[[\d.:a-fA-F]+\])?(?::\d+)?(?:[ \t]*:|[ \t]+but\b)",
    re.IGNORECASE,
)


def remote_host(text: str) -> str | None:
    """The remote MTA named in a diagnostic (``host mx.example.com said: ...``, or a
    ``Remote server: mx.example.com`` line, or ``connect to mx.example.com[ip]:25: ...``)."""
    return _host_of(
        _REMOTE_HOST.search(text) or _REMOTE_HOST_FIELD.search(text) or _CONNECTED_HOST.search(text)
    )


def connected_host(text: str | None) -> str | None:
    """The host of a connection failure or refusal named in ``text`` (``connect to
    mx.example.com[192.0.2.1]:25: Connection refused``), if any."""
    return _host_of(_CONNECTED_HOST.search(text) if text else None)


def _host_of(match: re.Match[str] | None) -> str | None:
    """The host a remote-server pattern captured, lower-cased, without the root dot."""
    return match.group(1).lower().rstrip(".") if match else None


def records_from_blocks(
    view: MessageView,
    blocks: list[tuple[str, str]],
    *,
    dialect: str,
    fallback_diagnostic: str | None = None,
    **fields: Any,
) -> list[BounceRecord]:
    """One failed-recipient record per block; blocks without a reason share the fallback.

    With several recipients, a block that only names its recipient shares the fallback
    lines that name no other recipient; a block with words of its own (a local failure
    beside remote ones) keeps them. Either way a fallback line naming the recipient is
    its reply. Fallback lines the block already holds are not repeated.
    """
    everyone = {recipient for recipient, _ in blocks}
    records = []
    for recipient, block in blocks:
        diagnostic = _strip_label_lines(_strip_recipient_only_line(block, recipient))
        fallback = fallback_diagnostic
        if fallback:
            fallback = _fallback_for(fallback, recipient, everyone, block=diagnostic)
        if not (find_status(diagnostic) or find_reply_code(diagnostic)) and fallback:
            # the reason was stated once for all recipients: put it first
            diagnostic = f"{fallback}\n{diagnostic}".strip()
        values: dict[str, Any] = {"remote_mta": remote_host(diagnostic or "")}
        values.update(fields)
        records.append(
            view.record(
                recipient=recipient, dialect=dialect, diagnostic=diagnostic or None, **values
            )
        )
    return records


def _fallback_for(fallback: str, recipient: str, everyone: set[str], *, block: str) -> str:
    """The lines of a shared ``fallback`` that can be ``recipient``'s reason, never a line
    the block already holds: all the others when it is the only recipient; else those
    naming it, or (for a block with no words of its own) those naming no other recipient."""
    lines = [line for line in fallback.split("\n") if line.strip() not in block]
    if len(everyone) == 1:
        return "\n".join(lines)
    bare = not block
    named = [set(find_addresses(line)) & everyone for line in lines]
    own = [line for line, names in zip(lines, named, strict=True) if recipient in names]
    if own or not bare:
        return "\n".join(own)
    return "\n".join(line for line, names in zip(lines, named, strict=True) if not names)


# the label (one to three words) of a line that only names the recipient ("Recipient:",
# "Failed Recipient:", "RCPT TO:", "收件人(Recipient)："), and the "[SMTP:address]"
# wrapping some servers use; a sentence ending in the address says more and is kept
_RECIPIENT_LABEL = re.compile(r"^(?:[^\W\d][\w()-]{0,24} ){0,2}[^\W\d][\w()-]{0,24}[:\uff1a][ \t]*")
_ADDRESS_TYPE = re.compile(r"^\[?smtp:", re.IGNORECASE)


# the display name before an address in angle brackets ('"Uma Patel" <uma@example.ca>')
_DISPLAY_NAME = re.compile(r'^(?:"[^"\n]*"|[^"<>@:\n]{1,64}?)[ \t]*(?=<[^<>]+>\W*$)')
_AROUND_ADDRESS = " <>:;,.()\t\"'-*[]"


def _strip_label_lines(block: str) -> str:
    """``block`` without the lines that are only a label for the next one ("Error
    message:", "Reason:"), when something else is left."""
    lines = block.split("\n")
    kept = [line for line in lines if not _RECIPIENT_LABEL.fullmatch(line.strip())]
    return "\n".join(kept) if any(line.strip() for line in kept) else block


def _strip_recipient_only_line(block: str, recipient: str) -> str:
    lines = block.split("\n")
    if lines:
        first = lines[0].strip()
        if first.strip(_AROUND_ADDRESS).lower() != recipient:
            first = _ADDRESS_TYPE.sub("", _RECIPIENT_LABEL.sub("", first, count=1))
            first = _DISPLAY_NAME.sub("", first, count=1)
        if first.strip(_AROUND_ADDRESS).lower() == recipient:
            lines = lines[1:]
    return "\n".join(lines).strip()


# Matched on lower-cased lines; the lookahead names every alternative's first letter, so
# the engine tries the alternatives only where a word starts with one (several times
# faster than IGNORECASE over every position).
_REASON_WORD = re.compile(
    r"\b(?=[bcdefinopqrstu])"
    r"(?:unknown|not exist|no such|invalid|reject|refused|denied|blocked|full|quota|"
    r"over ?quota|disabled|suspended|inactive|expired|timed? ?out|too (?:large|big)|"
    r"exceed|not found|unrouteable|unroutable|no mailbox|does not|doesn't|couldn't|"
    r"could not|unable|failed|failure|failing|spam|blacklist|blocklist|policy|temporar)"
)


# a banner line ("----- The following addresses had permanent fatal errors -----",
# "|---- Failed addresses follow: ----|") introduces the reason but is none
_BANNER = ("--", "==")


def reason_text(text: str) -> str | None:
    """The lines of a bounce body that explain the failure: codes first, else sentences
    (not the banner lines that head a section)."""
    with_codes = reason_lines(text)
    if with_codes:
        return with_codes
    sentences = [
        line.strip()
        for line in text.split("\n")
        if _REASON_WORD.search(line.lower()) and not line.lstrip(" \t|").startswith(_BANNER)
    ]
    return "\n".join(sentences[:3]) or None


def section_records(
    view: MessageView,
    *,
    dialect: str,
    start: re.Pattern[str] | None = None,
    end: re.Pattern[str] | None = None,
    recipients: list[str] | None = None,
    **fields: Any,
) -> list[BounceRecord]:
    """Records for the recipients named in one section of the body (all of it by default).

    ``start``/``end`` delimit the MTA's report; when ``start`` is not found the whole
    body is read. Blocks with no reason of their own share the section's reason lines.
    """
    body = view.body_before_original
    text = section(body, start, end) if start is not None else body
    if not text.strip():
        text = body
    if recipients is None:
        recipients = (
            candidate_recipients(view, text, include_parties=False)
            or find_addresses(view.header("X-Failed-Recipients") or "")
            or candidate_recipients(view, text)
            or view.original_recipients[:1]
        )
    blocks = recipient_blocks(view, text, recipients=recipients)
    return records_from_blocks(
        view, blocks, dialect=dialect, fallback_diagnostic=reason_text(text), **fields
    )


def section(
    text: str, start: re.Pattern[str] | str, end: re.Pattern[str] | str | None = None
) -> str:
    """The part of ``text`` after the first ``start`` match and before the next ``end``."""
    start_match = re.search(start, text) if isinstance(start, str) else start.search(text)
    if start_match is None:
        return ""
    rest = text[start_match.end() :]
    if end is None:
        return rest
    end_match = re.search(end, rest) if isinstance(end, str) else end.search(rest)
    return rest[: end_match.start()] if end_match else rest
