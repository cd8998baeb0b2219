"""RFC 3834 automatic responses: vacation and out-of-office replies.

They are not failures; they are recognised so that they can be ignored (and told apart
from real bounces, which often carry ``Auto-Submitted: auto-replied`` too; so this
check runs only after every bounce reader has declined). The record's recipient is the
person who is away: the reply's sender.
"""

from __future__ import annotations

import re

from processor.intake.record import BounceRecord, RecordKind
from processor.intake.text import find_addresses, header_text
from processor.intake.view import MessageView

NAME = "autoreply"

_AUTO_HEADERS = (
    "X-Autoreply",
    "X-Autorespond",
    "X-Autoresponder",
    "X-Auto-Reply",
    "X-Apple-Action",
    "X-Mailer-Autoreply",
)
_SUBJECT = re.compile(
    r"^\s*(?:auto(?:matic)?[ \-_]?(?:reply|response|antwort|risposta)|auto:|"
    r"out of (?:the )?office|away from (?:the )?office|on vacation|vacation|"
    r"abwesenheit|abwesend|réponse automatique|r[ée]ponse automatique|absence|"
    r"respuesta autom[aá]tica|fuera de la oficina|risposta automatica|"
    r"automatisch antwoord|afwezig|自動応答|自動返信|不在)",
    re.IGNORECASE,
)
_BODY = re.compile(
    r"\b(?:out of (?:the )?office|on vacation|on holiday|away (?:from|until)|"
    r"currently away|limited access to e-?mail|will be back|returning (?:to the office )?on)\b",
    re.IGNORECASE,
)
_BOUNCE_SENDER = re.compile(r"mailer-daemon|postmaster|mail delivery", re.IGNORECASE)


def matches(view: MessageView) -> bool:
    if _BOUNCE_SENDER.search(view.from_header):
        return False
    if any(view.has_header(name) for name in _AUTO_HEADERS):
        return True
    auto_submitted = (view.header("Auto-Submitted") or "").lower()
    precedence = (view.header("Precedence") or "").lower()
    if auto_submitted.startswith("auto-replied") or precedence == "auto_reply":
        return True
    if _SUBJECT.search(view.subject):
        return True
    return auto_submitted.startswith("auto-") and bool(_BODY.search(view.body_text[:2000]))


def parse(view: MessageView) -> list[BounceRecord]:
    sender = view.from_address or next(
        iter(find_addresses(header_text(view.message, "Reply-To") or "")), None
    )
    return [
        view.record(
            recipient=sender,
            kind=RecordKind.AUTOREPLY,
            dialect=NAME,
            action=None,
            diagnostic=view.body_text.strip()[:1000] or None,
        )
    ]
