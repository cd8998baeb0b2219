"""The prefilter never drops a rule that matches (property test on ASCII text)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from processor.intake.record import BounceRecord
from processor.qualify import Engine
from processor.qualify.engine import compile_pattern, unfold_reply
from processor.qualify.patterns import KeyKind, prefilter_option

from .conftest import smtp

WORDS = st.sampled_from(
    [
        "user",
        "unknown",
        "mailbox",
        "full",
        "quota",
        "exceeded",
        "no",
        "such",
        "recipient",
        "address",
        "rejected",
        "blocked",
        "spam",
        "relay",
        "denied",
        "550",
        "5.1.1",
        "<a@b.c>",
        ":",
        ";",
        ",",
        ".",
        "-",
        "host",
        "not",
        "found",
        "dns",
        "query",
        "failed",
        "over",
        "inactive",
        "disabled",
        "account",
        "does",
        "exist",
    ]
)
TEXT = st.lists(WORDS, min_size=1, max_size=12).map(" ".join)


def test_key_kinds() -> None:
    opt = prefilter_option(r"\buser\sunknown\b")
    assert opt is not None and all(k.kind is KeyKind.EXACT for k in opt)
    opt = prefilter_option(r"user unknown")
    assert opt is not None and opt[0].kind in (KeyKind.PREFIX, KeyKind.SUFFIX)


def test_common_whole_words_are_preferred_to_a_partial_key() -> None:
    # "doesn" may go on ("doesnt"): a prefix key, dearer than common whole words
    opt = prefilter_option(r"\b(?:recipient|user)\s(?:doesn'?t|does\snot)\shave\san\saccount\b")
    assert opt is not None and all(k.kind is KeyKind.EXACT for k in opt)


def test_the_default_rules_cost_no_pass_for_partial_keys(engine: Engine) -> None:
    # One prefix (suffix, substring) key makes every record pay a pass over its words:
    # the default rules are written (and their keys chosen) so that none is needed.
    for field, index in engine._indexes:
        assert not index.prefix and not index.suffix and not index.subs, field


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_prefilter_is_complete(engine: Engine, text: str) -> None:
    record = smtp(text)
    decided = engine.qualify(record)
    first = next(
        (
            r
            for r in engine.rules
            if r.field.value == "diagnostic"
            and (r.scope is None or r.scope(record))
            and compile_pattern(r.loaded.rule.pattern).search(text)
        ),
        None,
    )
    if first is not None:
        assert decided.rule_id == first.id


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.sampled_from(["dsn", "smtp", "arf"]))
def test_any_text_qualifies(engine: Engine, text: str, kind: str) -> None:
    rec = BounceRecord(kind=kind, diagnostic=text, bounce_subject=text, feedback_type=text)
    q = engine.qualify(rec)
    assert q.ruleset_version == engine.ruleset.version


def test_unfold_multiline_reply() -> None:
    folded = "550-5.7.1 This message is not 550-5.7.1 RFC 5322 compliant. 550 5.7.1 Bye"
    assert unfold_reply(folded) == "550-5.7.1 This message is not RFC 5322 compliant. Bye"
    assert unfold_reply("550 5.1.1 user unknown") == "550 5.1.1 user unknown"
