"""Mailing-list managers refusing a post (FML, Mailman, majordomo, ezmlm, Sympa).

"You are not a member of this mailing list <list@example.org>" and the like: the
refused recipient is the list address, named in the first lines. ``X-MLServer`` /
``X-Mailman-Version`` / ``List-Id`` headers identify the list software.
"""

from __future__ import annotations

import re

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
_LIST_HEADERS = ("X-MLServer", "X-ML-Name", "X-Mailman-Version", "List-Id", "X-Sympa-To")


def matches(view: MessageView) -> bool:

    opening = view.subject + "\n" + view.body_before_original[:1500]
    return bool(_REFUSAL.search(opening))


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
