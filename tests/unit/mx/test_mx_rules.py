"""MX rules: loading rules/mx.yaml, matching by MX glob and by recipient domain, rejection."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from processor.state.mx_rules import (
    LEVEL_COUNT,
    MatchedBy,
    MxRulesError,
    MxRuleSet,
    SignalClass,
    content_version,
    load_mx_rules,
    normalise_host,
    parse_duration,
    parse_mx_rules,
)

from .streams import small_rules_document

# --------------------------------------------------------------------- shipped rules


@pytest.fixture(scope="module")
def shipped() -> MxRuleSet:
    return load_mx_rules()


def test_shipped_rules_load_with_six_levels_each(shipped: MxRuleSet) -> None:
    assert shipped.default.id == "default"
    for rule in (shipped.default, *shipped.rules):
        assert len(rule.levels) == LEVEL_COUNT
        assert 1 <= shipped.timings(rule.id).start_level <= LEVEL_COUNT


def test_shipped_version_is_a_content_hash_unless_given(tmp_path: Path) -> None:
    text = Path("rules/mx.yaml").read_text(encoding="utf-8")
    assert load_mx_rules().version == content_version(text)
    assert load_mx_rules(version="1.4.0+abc").version == "1.4.0+abc"
    (tmp_path / "mx.yaml").write_text(text, encoding="utf-8")
    assert load_mx_rules(tmp_path).version == content_version(text)


@pytest.mark.parametrize(
    ("mx_host", "rule_id"),
    [
        ("gmail-smtp-in.l.google.com", "google"),
        ("aspmx.l.google.com", "google"),
        ("alt1.gmail-smtp-in.l.google.com.", "google"),
        ("dns; ASPMX2.GOOGLEMAIL.COM", "google"),
        ("contoso-com.mail.protection.outlook.com", "microsoft"),
        ("hotmail-com.olc.protection.outlook.com", "microsoft"),
        ("mta7.am0.yahoodns.net", "yahoo"),
        ("mx-aol.mail.gm0.yahoodns.net", "yahoo"),
        ("mx01.mail.icloud.com", "apple"),
        ("mx00.emig.gmx.net", "united-internet"),
        ("mx-ha03.web.de", "united-internet"),
        ("smtp-in.orange.fr", "orange"),
        ("mxs.mail.ru", "mailru"),
        ("mx.yandex.ru", "yandex"),
        ("mx1a1.comcast.net", "comcast"),
        ("mx.example.org", "default"),
    ],
)
def test_shipped_rules_match_provider_mx_hosts(
    shipped: MxRuleSet, mx_host: str, rule_id: str
) -> None:
    assert shipped.match(mx_host).rule.id == rule_id


@pytest.mark.parametrize(
    ("domain", "rule_id"),
    [
        ("gmail.com", "google"),
        ("hotmail.com", "microsoft"),
        ("aol.com", "yahoo"),
        ("me.com", "apple"),
        ("web.de", "united-internet"),
        ("wanadoo.fr", "orange"),
        ("bk.ru", "mailru"),
        ("ya.ru", "yandex"),
        ("comcast.net", "comcast"),
        ("example.org", "default"),
    ],
)
def test_shipped_rules_match_recipient_domains(
    shipped: MxRuleSet, domain: str, rule_id: str
) -> None:
    assert shipped.match(domain=domain).rule.id == rule_id


# --------------------------------------------------------------------- matching


def test_wildcard_matches_hosts_below_the_suffix_only(rules: MxRuleSet) -> None:
    match = rules.match_mx("alt4.aspmx.l.google.com")
    assert match is not None
    assert (match.rule.id, match.matched_by) == ("google", MatchedBy.MX)
    assert match.pattern == "*.google.com"
    assert rules.match_mx("google.com") is None
    assert rules.match_mx("notgoogle.com") is None
    assert rules.match_mx("google.com.evil.example") is None


def test_longest_pattern_wins_and_exact_beats_wildcard() -> None:
    document = small_rules_document()
    six = document["default"]["levels"]
    document["rules"].append({"id": "google-l", "mx_hosts": ["*.l.google.com"], "levels": six})
    document["rules"].append({"id": "one-host", "mx_hosts": ["mx.l.google.com"], "levels": six})
    rules = parse_mx_rules(document, version="t")
    assert rules.match("aspmx.l.google.com").rule.id == "google-l"
    assert rules.match("mx.l.google.com").rule.id == "one-host"
    assert rules.match("smtp.google.com").rule.id == "google"


def test_mx_host_decides_before_recipient_domain(rules: MxRuleSet) -> None:
    # A Google Workspace customer: the domain is nobody's, the MX is Google's.
    assert rules.match("aspmx.l.google.com", "acme.example").rule.id == "google"
    # An unknown MX host does not hide a known recipient domain.
    assert rules.match("mx.unknown.example", "gmail.com").matched_by is MatchedBy.DOMAIN
    assert rules.match(None, "aol.com").rule.id == "yahoo"
    fallback = rules.match(None, "acme.example")
    assert (fallback.rule.id, fallback.matched_by) == ("default", MatchedBy.DEFAULT)


@pytest.mark.parametrize(
    ("raw", "host"),
    [
        ("dns; mx.example.com", "mx.example.com"),
        ("MX.Example.COM.", "mx.example.com"),
        ("mx.example.com [192.0.2.7]", "mx.example.com"),
        ("[192.0.2.7]", None),
        ("2001:db8::1", None),
        ("", None),
        (None, None),
    ],
)
def test_normalise_host(raw: str | None, host: str | None) -> None:
    assert normalise_host(raw) == host


def test_rule_timings_merge_overrides_over_defaults(rules: MxRuleSet) -> None:
    google, yahoo = rules.timings("google"), rules.timings("yahoo")
    assert google.start_level == 3
    assert google.suspension.period == timedelta(hours=4)
    assert yahoo.start_level == 6
    assert yahoo.suspension.period == timedelta(hours=2)
    assert yahoo.suspension.step_down == 1  # not overridden: the default's
    assert yahoo.throttle == google.throttle


def test_classify_throttle_block_and_neutral(rules: MxRuleSet) -> None:
    def classify(rule_id: str, **fields: Any) -> SignalClass:
        base = dict.fromkeys(("reason", "detail", "smtp_code", "diagnostic"))
        return rules.classify(rule_id, **{**base, **fields})

    throttle, block, neutral = SignalClass.THROTTLE, SignalClass.BLOCK, SignalClass.NEUTRAL
    assert classify("google", smtp_code=421) is throttle
    assert classify("google", reason="unreachable", detail="ratelimited") is throttle
    assert classify("google", diagnostic="451 Too many connections from your IP") is throttle
    assert classify("google", reason="refused", detail="blocked", smtp_code=421) is block
    assert classify("google", reason="mailbox_full", detail="blocked") is neutral
    assert classify("google", reason="user_unknown", detail="userunknown", smtp_code=550) is neutral
    # A rule's own patterns apply to that rule only.
    tss04 = "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred"
    assert classify("yahoo", diagnostic=tss04) is SignalClass.THROTTLE
    assert classify("google", diagnostic=tss04) is SignalClass.NEUTRAL


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("10m", 600), ("4h", 14400), ("2d", 172800), (30, 30)]
)
def test_parse_duration(text: object, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


# --------------------------------------------------------------------- rejection


def _broken(change: Any) -> dict[str, Any]:
    document = copy.deepcopy(small_rules_document())
    change(document)
    return document


BAD_DOCUMENTS = {
    "five levels": lambda d: d["rules"][0].update(levels=d["rules"][0]["levels"][:5]),
    "levels getting gentler": lambda d: d["rules"][0]["levels"].reverse(),
    "zero connections": lambda d: d["default"]["levels"][0].update(max_connections=0),
    "unknown key": lambda d: d["rules"][0].update(max_speed=3),
    "unknown limit": lambda d: d["default"]["levels"][0].update(max_rcpt=3),
    "start level 7": lambda d: d["defaults"].update(start_level=7),
    "start level 0 in a rule": lambda d: d["rules"][0].update(start_level=0),
    "bad duration": lambda d: d["defaults"]["throttle"].update(window="ten minutes"),
    "negative duration": lambda d: d["defaults"]["warmup"].update(clean_period=-5),
    "threshold zero": lambda d: d["rules"][1].update(throttle={"threshold": 0}),
    "block threshold zero": lambda d: d["defaults"]["suspension"].update(threshold=0),
    "suspension without window": lambda d: d["defaults"]["suspension"].pop("window"),
    "duplicate id": lambda d: d["rules"][1].update(id="google"),
    "id with separator": lambda d: d["rules"][1].update(id="ya|hoo"),
    "default id": lambda d: d["rules"][1].update(id="default"),
    "pattern in two rules": lambda d: d["rules"][1]["mx_hosts"].append("*.google.com"),
    "glob in the middle": lambda d: d["rules"][0].update(mx_hosts=["mx*.google.com"]),
    "bare star": lambda d: d["rules"][0].update(mx_hosts=["*"]),
    "rule without patterns": lambda d: d["rules"][0].update(mx_hosts=[], domains=[]),
    "default with patterns": lambda d: d["default"].update(domains=["example.com"]),
    "bad regex": lambda d: d["signals"]["throttle"].update(diagnostic_patterns=["(unclosed"]),
    "bad rule regex": lambda d: d["rules"][1].update(throttle_patterns=["[TSS"]),
    "global flag (fine alone, not combined)": lambda d: d["rules"][1].update(
        throttle_patterns=["(?i)rate"]
    ),
    "missing defaults": lambda d: d.pop("defaults"),
    "missing default rule": lambda d: d.pop("default"),
}


@pytest.mark.parametrize("change", BAD_DOCUMENTS.values(), ids=BAD_DOCUMENTS.keys())
def test_loader_rejects_bad_data(change: Any) -> None:
    with pytest.raises(MxRulesError):
        parse_mx_rules(_broken(change), version="t")


def test_loader_rejects_files_that_are_not_rule_sets(tmp_path: Path) -> None:
    for name, text in {"list.yaml": "- a\n- b\n", "broken.yaml": "rules: [\n"}.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(MxRulesError):
            load_mx_rules(path)
    with pytest.raises(MxRulesError):
        load_mx_rules(tmp_path / "missing.yaml")
