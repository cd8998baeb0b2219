"""Readers for non-standard bounce bodies, one small module per MTA or provider.

Each dialect module has a ``NAME``, a cheap ``matches(view)`` ("is this my MTA's
bounce?") and ``parse(view)`` returning one record per failed recipient. They are tried
in :data:`DIALECTS` order; the first that matches and finds recipients wins. Adding a
dialect means adding its module and one line here. :mod:`.generic` is not in the list:
intake tries it last, after the standard formats.
"""

from __future__ import annotations

from typing import Protocol

from processor.intake.record import BounceRecord
from processor.intake.view import MessageView


class Dialect(Protocol):
    """What a dialect module provides."""

    NAME: str

    def matches(self, view: MessageView) -> bool: ...

    def parse(self, view: MessageView) -> list[BounceRecord]: ...


from processor.intake.dialects import (  # noqa: E402
    amazonses,
    courier,
    exchange,
    exim,
    generic,
    gmail,
    googlegroups,
    groupwise,
    ironport,
    japanese,
    mailgateways,
    mailinglist,
    mdaemon,
    messagingserver,
    notes,
    postfix,
    qmail,
    sendmail,
    stalwart,
    yahoo,
)

# Tried in this order; the first that matches and finds recipients wins. Specific
# signatures (JSON, provider senders) come before the widely imitated MTA formats.
DIALECTS: tuple[Dialect, ...] = (
    amazonses,
    googlegroups,
    gmail,
    yahoo,
    japanese,
    messagingserver,
    notes,
    groupwise,
    exchange,
    mdaemon,
    qmail,
    postfix,
    exim,
    sendmail,
    courier,
    stalwart,
    ironport,
    mailgateways,
    mailinglist,
)

FALLBACK: Dialect = generic
