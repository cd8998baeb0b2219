"""Engine behaviour: seed rows, decision order, scope, fallbacks, kinds, timeouts, version."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.intake.record import BounceRecord, RecordKind
from processor.qualify import Engine, load_engine
from processor.qualify.result import FailureType, Reason

from .conftest import rule, smtp, write_rules

SEED = [
    ("550 5.1.1 ...User unknown {mx003}", "hard", "user_unknown"),
    ("550 5.2.2 User quota exceeded", "soft", "mailbox_full"),
    (
        "550 5.7.1 <x@y>: Recipient address rejected: Inactive MailBox, not poped for more "
        "than 6 months",
        "soft",
        "inactive_mailbox",
    ),
    ("DNS query failed for 'ourdan.com'", "soft", "invalid_domain"),
    (
        "Inbound email bounce (rule 'Feedback_loop_Hotmail' has matched this bounce)",
        "soft",
        "refused",
    ),
    (
        "421 4.16.55 [TS01] Messages from x.x.x.x temporarily deferred due to user complaints",
        "soft",
        "unreachable",
    ),
]


@pytest.mark.parametrize(("diagnostic", "failure_type", "reason"), SEED)
def test_seed_rows(engine: Engine, diagnostic: str, failure_type: str, reason: str) -> None:
    q = engine.qualify(smtp(diagnostic))
    assert (q.failure_type.value, q.reason.value) == (failure_type, reason)
    assert q.ruleset_version == engine.ruleset.version
    assert not q.rule_id.startswith(("status:", "reply:", "unqualified"))


def test_version_format(engine: Engine) -> None:
    semver, _, digest = engine.ruleset.version.partition("+")
    assert semver.count(".") == 2 and len(digest) == 12


def test_fallback_order(engine: Engine) -> None:
    q = engine.qualify(smtp("550 5.1.1 zzqx", status="5.1.1"))
    assert (q.rule_id, q.detail, q.failure_type) == ("status:5.1.1", "userunknown", "hard")
    q = engine.qualify(smtp("552 zzqx"))
    assert (q.rule_id, q.detail) == ("reply:552", "mailboxfull")
    q = engine.qualify(smtp("559 zzqx"))
    assert q.rule_id == "reply:5xx"
    q = engine.qualify(smtp("zzqx"))
    assert (q.rule_id, q.failure_type, q.reason) == (
        "unqualified",
        FailureType.UNQUALIFIED,
        Reason.NOT_DEFINED,
    )


def test_status_in_text_beats_vague_record_status(engine: Engine) -> None:
    q = engine.qualify(smtp("550 5.2.2 zzqx", status="5.0.0"))
    assert q.rule_id == "status:5.2.2"


def test_transient_refusal_is_unreachable(engine: Engine) -> None:
    blocked = "Client host [192.0.2.1] blocked using zen.spamhaus.org"
    assert engine.qualify(smtp("554 5.7.1 " + blocked)).reason is Reason.REFUSED
    assert engine.qualify(smtp("450 4.7.1 " + blocked)).reason is Reason.UNREACHABLE


def test_other_kinds(engine: Engine) -> None:
    auto = engine.qualify(BounceRecord(kind=RecordKind.AUTOREPLY))
    assert (auto.failure_type, auto.reason, auto.detail) == ("ignored", "auto_reply", "vacation")
    done = engine.qualify(BounceRecord(kind=RecordKind.DELIVERED))
    assert (done.failure_type, done.detail) == ("ignored", "delivered")
    arf = engine.qualify(BounceRecord(kind=RecordKind.ARF, feedback_type="abuse"))
    assert (arf.reason, arf.detail, arf.rule_id) == ("complaint", "feedback", "kind:arf")
    not_spam = engine.qualify(BounceRecord(kind=RecordKind.ARF, feedback_type="not-spam"))
    assert not_spam.failure_type is FailureType.IGNORED
    # an ARF record never matches diagnostic rules
    arf2 = BounceRecord(kind=RecordKind.ARF, feedback_type="abuse", diagnostic="User unknown")
    assert engine.qualify(arf2).detail == "feedback"


def test_subject_auto_reply(engine: Engine) -> None:
    rec = BounceRecord(kind=RecordKind.DSN, bounce_subject="Automatic reply: hello")
    assert engine.qualify(rec).failure_type is FailureType.IGNORED


def test_priority_then_scope_then_file_order(tmp_path: Path) -> None:
    d = write_rules(
        tmp_path,
        [
            rule("low", r"\bblah\b", "mailboxfull", priority=10, examples=["blah"]),
            rule("plain", r"\bblah\b", "userunknown", examples=["blah"]),
            rule(
                "scoped",
                r"\bblah\b",
                "suspend",
                scope={"recipient_domains": ["*.example.org", "example.org"]},
                examples=["blah"],
            ),
            rule("high", r"\bblah\s+high\b", "blocked", priority=500, examples=["blah high"]),
        ],
    )
    e = load_engine(d)
    assert e.qualify(smtp("550 blah")).rule_id == "plain"
    assert e.qualify(smtp("550 blah", recipient="a@mx.example.org")).rule_id == "scoped"
    assert e.qualify(smtp("550 blah high", recipient="a@example.org")).rule_id == "high"
    explanation = e.explain(smtp("550 blah", recipient="a@example.org"))
    assert explanation.deciding.rule_id == "scoped"
    others = [c.rule_id for c in explanation.others]
    assert others[:2] == ["plain", "low"] and "reply:5xx" in others
    assert "scoped" in explanation.render()


def test_mx_scope(tmp_path: Path) -> None:
    d = write_rules(
        tmp_path,
        [rule("mx-only", r"\bblah\b", scope={"mx": ["*.google.com"]}, examples=["blah"])],
    )
    e = load_engine(d)
    assert e.qualify(smtp("550 blah")).rule_id == "reply:5xx"
    rec = smtp("550 blah", remote_mta="dns; aspmx.l.google.com")
    assert e.qualify(rec).rule_id == "mx-only"


def test_version_changes_with_content(tmp_path: Path) -> None:
    a = write_rules(tmp_path / "a", [rule("r", r"\bblah\b", examples=["blah"])])
    b = write_rules(tmp_path / "b", [rule("r", r"\bblah\b", examples=["blah", "x blah"])])
    c = write_rules(tmp_path / "c", [rule("r", r"\bblah\b", examples=["blah"])])
    va, vb, vc = (load_engine(p).ruleset.version for p in (a, b, c))
    assert va != vb and va == vc
    (c / "quarantine.yaml").write_text("policy: {}\n")  # other documents are tolerated
    assert load_engine(c).ruleset.version != va


def test_pathological_input_times_out_and_falls_through(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    d = write_rules(tmp_path, [rule("bad", r"(a+)+$", examples=["aaa"])])
    e = load_engine(d, timeout=0.01)
    evil = "a" * 4000 + "!"  # within the 4 KiB cap, so the failing "!" is seen
    with caplog.at_level(logging.WARNING):
        q1 = e.qualify(smtp(evil))
        q2 = e.qualify(smtp(evil))
    assert q1.rule_id == q2.rule_id == "unqualified"
    assert e.timeouts["bad"] == 2
    assert sum("bad" in r.getMessage() for r in caplog.records) == 1  # logged once


def test_usable_without_intake_parsers(engine: Engine) -> None:
    rec = BounceRecord(kind="smtp", diagnostic="550 5.1.1 User unknown", smtp_code=550)
    assert engine.qualify(rec).reason is Reason.USER_UNKNOWN


def test_env_rules_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = write_rules(tmp_path, [rule("envrule", r"\bblah\b", examples=["blah"])])
    monkeypatch.setenv("BOUNCE_RULES_DIR", str(d))
    assert load_engine().qualify(smtp("blah")).rule_id == "envrule"


def test_invalid_regex_is_a_rule_set_error(tmp_path: Path) -> None:
    from processor.qualify import RuleSetError

    d = write_rules(tmp_path, [rule("broken", r"user (unknown", examples=["x"])])
    with pytest.raises(RuleSetError, match="broken"):
        load_engine(d)


def test_smtp_command_and_status_scope(tmp_path: Path) -> None:
    d = write_rules(
        tmp_path,
        [
            rule("plain", r"\buser\sunknown\b", examples=["user unknown"]),
            rule(
                "after-data",
                r"\buser\sunknown\b",
                "filtered",
                scope={"smtp_commands": ["data"], "statuses": ["none", "?.[02-9].*"]},
                examples=["user unknown"],
            ),
            rule(
                "unsaid",
                r"\bgo\saway\b",
                "rejected",
                scope={"smtp_commands": ["none"]},
                examples=["go away"],
            ),
        ],
    )
    e = load_engine(d)
    assert e.qualify(smtp("550 user unknown", smtp_command="RCPT")).rule_id == "plain"
    assert e.qualify(smtp("550 user unknown")).rule_id == "plain"
    assert e.qualify(smtp("550 user unknown", smtp_command="DATA")).rule_id == "after-data"
    # no status at all matches "none"; the status in the diagnostic counts
    assert e.qualify(smtp("550 5.7.1 user unknown", smtp_command="DATA")).detail == "filtered"
    assert e.qualify(smtp("550 5.1.1 user unknown", smtp_command="DATA")).rule_id == "plain"
    rec = smtp("550 user unknown", smtp_command="DATA", status="5.1.1")
    assert e.qualify(rec).rule_id == "plain"
    assert e.qualify(smtp("550 go away")).rule_id == "unsaid"
    assert e.qualify(smtp("550 go away", smtp_command="MAIL")).rule_id == "reply:5xx"


def test_bad_status_glob_is_a_schema_error(tmp_path: Path) -> None:
    from processor.qualify.loader import RuleSetError

    d = write_rules(
        tmp_path, [rule("x", r"\bblah\b", scope={"statuses": ["user"]}, examples=["blah"])]
    )
    with pytest.raises(RuleSetError, match="status glob"):
        load_engine(d)


def test_default_rules_filtered_by_command(engine: Engine) -> None:
    rcpt = smtp("550 Unknown user a@example.jp", smtp_command="RCPT")
    data = smtp("550 Unknown user a@example.jp", smtp_command="DATA")
    assert engine.qualify(rcpt).detail == "userunknown"
    assert engine.qualify(data).detail == "filtered"
    q = engine.qualify(smtp("550 5.1.7 No such domain example.com", smtp_command="MAIL"))
    assert q.detail == "rejected"


def test_localized_rules_only_tried_on_non_ascii_text(engine: Engine) -> None:
    assert engine.qualify(smtp("550 Benutzer unbekannt")).detail == "userunknown"
    assert engine.qualify(smtp("550 ユーザーが存在しません")).detail == "userunknown"
    assert engine.qualify(smtp("552 Почтовый ящик переполнен")).detail == "mailboxfull"
    from processor.qualify.patterns import needs_non_ascii

    assert needs_non_ascii("(?:почтовый\\s)?ящик")
    assert not needs_non_ascii("\\bfoo\\b|ящик")
    assert not needs_non_ascii("ſ")  # matches "s" case-insensitively


def test_diagnostic_type_scope(engine: Engine) -> None:
    local = BounceRecord(
        kind=RecordKind.DSN, diagnostic="temporary failure", diagnostic_type="X-Unix"
    )
    assert engine.qualify(local).detail == "mailererror"
    remote = BounceRecord(
        kind=RecordKind.DSN, diagnostic="temporary failure", diagnostic_type="smtp"
    )
    assert engine.qualify(remote).detail != "mailererror"
    quota = BounceRecord(
        kind=RecordKind.DSN, diagnostic="Disk quota exceeded", diagnostic_type="x-unix"
    )
    assert engine.qualify(quota).detail == "mailboxfull"


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    status=st.one_of(
        st.none(), st.sampled_from(["5.1.1", "4.2.2", "5.0.0", "4.0.0", "2.0.0", "5.7.1", "4.7.1"])
    ),
    action=st.one_of(st.none(), st.sampled_from(["failed", "delayed", "Delayed", ""])),
    code=st.one_of(st.none(), st.integers(200, 599)),
    text=st.sampled_from(["blah 4.7.1", "blah 5.0.0", "421 blah", "554 blah", "blah", ""]),
)
def test_fast_fallback_decides_like_the_step_by_step_one(
    engine: Engine, status: str | None, action: str | None, code: int | None, text: str
) -> None:
    """``qualify``'s cached fallback step decides what the step-by-step list of every
    fallback (the one ``explain`` shows) puts first."""
    record = BounceRecord(
        kind=RecordKind.DSN,
        recipient="x@example.com",
        status=status,
        action=action,
        smtp_code=code,
        diagnostic=text or None,
    )
    assert engine._first_fallback(record) == engine._fallbacks(record)[0][1]


def test_action_scope(tmp_path: Path) -> None:
    d = write_rules(
        tmp_path,
        [
            rule(
                "gave-up",
                r"\bblah\b",
                scope={"kinds": ["dsn"], "actions": ["failed"]},
                examples=["blah"],
            )
        ],
    )
    e = load_engine(d)
    failed = BounceRecord(kind="dsn", action="failed", diagnostic="blah", status="5.0.0")
    delayed = BounceRecord(kind="dsn", action="delayed", diagnostic="blah", status="4.0.0")
    assert e.qualify(failed).rule_id == "gave-up"
    assert e.qualify(delayed).rule_id != "gave-up"
