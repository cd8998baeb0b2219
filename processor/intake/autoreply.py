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
# An absence notice stated in the opening of the text, for replies that carry no
# auto-reply header nor subject (pasted, or sent by clients that set none: Lotus Notes,
# QQ Mail, rule-based Outlook replies). Only consulted when nothing else read the message
# and it does not look like a bounce (see ``says_away``).
_AWAY = re.compile(
    r"\bout\sof\s(?:the\s)?office\b|\bthis\sis\san\sautomated\sresponse\b|"
    r"\b(?:i\s(?:am|will\sbe)|i'm|i'll\sbe)\s(?:currently\s)?(?:on\s(?:annual\s)?(?:leave|vacation|holiday)|"
    r"away\sfrom\s(?:the|my)\soffice|back\s(?:in|at)\sthe\soffice)\b|"
    r"\blimited\saccess\sto\s(?:my\s)?e-?mails?\b|"
    # German, French, Spanish, Italian, Dutch
    r"\bnicht\sim\sb(?:ü|ue)ro\b|\bwieder\sim\sb(?:ü|ue)ro\b|\bautomatische\santwort\b|"
    r"\babsente?\sdu\sbureau\b|\br[ée]ponse\sautomatique\b|\bfuera\sde\sla\soficina\b|"
    r"\brespuesta\sautom[áa]tica\b|\bfuori\sufficio\b|\bafwezig\b|"
    # Chinese / Japanese: automatic reply, on leave, away
    r"自动回复|自動回覆|正在休假|假期自动回复|自動返信|不在にして",
    re.IGNORECASE,
)
# Challenge-response systems (the sender must prove it is human) and list moderation holds.
_CHALLENGE_OR_HOLD = re.compile(
    r"\bchallenge[ \-/]response\b|"
    r"\b(?:confirm|verify|prove)\s(?:that\s)?you\s(?:are|'re)\s(?:a\s)?(?:human|real\sperson)\b|"
    # a held (quarantined) message released only when the sender answers
    r"\b(?:deleted|discarded)\s(?:if|unless)\s(?:it\sis\s)?not\s(?:authenticated|verified|confirmed)"
    r"\sby\syou\b|\bheld\suntil\syou\s(?:confirm|verify|authenticate)\b|"
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


def says_away(view: MessageView) -> bool:
    """An absence notice in the opening of a message with no auto-reply header or subject.

    Weaker than :func:`matches`: ``read_view`` asks it last, once no reader (the generic
    bounce reader included) took the message.
    """
    if _BOUNCE_SENDER.search(view.from_header):
        return False
    return bool(_AWAY.search(view.opening[:1500]))


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
