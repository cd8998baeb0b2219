"""Qualification: a bounce record plus a rule set into a :class:`Qualification`.

Public interface::

    from processor.qualify import load_engine
    engine = load_engine()              # $BOUNCE_RULES_DIR or the repo's rules/ folder
    q = engine.qualify(record)          # Qualification(failure_type, reason, detail, ...)
    engine.explain(record_or_text)      # deciding rule and the other candidates
    engine.ruleset.version              # "<semver>+<content hash>"

Pure Python, no Kafka. See :mod:`processor.qualify.engine` for the decision order and
:mod:`processor.qualify.lint` for the safety checks.
"""

from processor.qualify.engine import Candidate, Engine, Explanation, load_engine
from processor.qualify.loader import RuleSet, RuleSetError, build_ruleset, load_ruleset
from processor.qualify.result import FailureType, Qualification, Reason

__all__ = [
    "Candidate",
    "Engine",
    "Explanation",
    "FailureType",
    "Qualification",
    "Reason",
    "RuleSet",
    "RuleSetError",
    "build_ruleset",
    "load_engine",
    "load_ruleset",
]
