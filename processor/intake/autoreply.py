"""RFC 3834 automatic responses: vacation and out-of-office replies.

Also the other automatic answers that say nothing about the address: a challenge-response
system asking the sender to prove it is human, and a mailing list's notice that a post is
held for moderation (it may still be posted; the list address did not fail).

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
    # Outlook's localized "Automatic reply:" prefixes
    r"automatische antwort|automatiskt? svar|automaattinen vastaus|automatikus v[aá]lasz|"
    r"automatyczna odpowied[źz]|automatick[aá] odpov[eě][dď]|resposta autom[aá]tica|"
    r"автоматический ответ|自动回复|자동 응답|"
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
# Challenge-response systems (the sender must prove it is human) and list moderation holds.
_CHALLENGE_OR_HOLD = re.compile(
    r"\bchallenge[ \-/]response\b|"
    r"\b(?:confirm|verify|prove)\s(?:that\s)?you\s(?:are|'re)\s(?:a\s)?(?:human|real\sperson)\b|"
    r"\bawaits\s(?:the\s)?moderator(?:'s)?\sapproval\b|"
    r"\bheld\s(?:until|for)\s(?:the\s)?(?:list\s)?moderat(?:or|ion)\b|"
    r"\b(?:pending|waiting\sfor)\s(?:the\s)?moderator(?:'s)?\s(?:approval|review)\b",
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
    if is_challenge_or_hold(view):
        return True
    return auto_submitted.startswith("auto-") and bool(_BODY.search(view.body_text[:2000]))


def is_challenge_or_hold(view: MessageView) -> bool:
    """A challenge-response request or a post held for list moderation (not a failure)."""
    return bool(_CHALLENGE_OR_HOLD.search(view.subject) or _CHALLENGE_OR_HOLD.search(view.opening))


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
