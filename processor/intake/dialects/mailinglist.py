"""Mailing-list managers refusing a post (FML, Mailman, majordomo, ezmlm, Sympa).

"You are not a member of this mailing list <list@example.org>" and the like: the
refused recipient is the list address, named in the first lines. ``X-MLServer`` /
``X-Mailman-Version`` / ``List-Id`` headers identify the list software. A post held for
moderation ("awaits moderator approval", "is being held until the list moderator can
review it") is not a refusal: it is left to the auto-reply reader.
"""

from __future__ import annotations

import re

from processor.intake.autoreply import is_challenge_or_hold
from processor.intake.dialects.common import candidate_recipients, reason_text, records_from_blocks
from processor.intake.record import BounceRecord
from processor.intake.view import MessageView

NAME = "mailinglist"

_REFUSAL = re.compile(
    r"not a member of (?:this|the) (?:mailing )?list|are not (?:a )?member|"
    r"only members (?:can|may) post|post(?:ing)? by non-?members|"
    r"requires (?:moderator|list owner) approval|not allowed to post",
    re.IGNORECASE,
)
_REFUSAL_PHRASES = (
    "not a member of this",
    "not a member of the",
    "are not member",
    "are not a member",
    "only members can post",
    "only members may post",
    "by non-members",
    "by nonmembers",
    "moderator approval",
    "list owner approval",
    "not allowed to post",
)
_LIST_HEADERS = ("X-MLServer", "X-ML-Name", "X-Mailman-Version", "List-Id", "X-Sympa-To")


def matches(view: MessageView) -> bool:
    refusal = view.says_any(_REFUSAL_PHRASES) or any(
        phrase in view.subject.lower() for phrase in _REFUSAL_PHRASES
    )
    return refusal and not is_challenge_or_hold(view)


def parse(view: MessageView) -> list[BounceRecord]:
    text = view.body_before_original
    refusal = _REFUSAL.search(text)
    around = text[: (refusal.end() + 200) if refusal else 500]
    found = candidate_recipients(view, around, include_parties=False)
    if not found:
        return []
    return records_from_blocks(
        view,
        [(found[0], refusal.group(0) if refusal else "")],
        dialect=NAME,
        fallback_diagnostic=reason_text(around),
        action="failed",
    )
