"""Where the project's data folders (``schemas/``, ``rules/``) are found.

A source checkout (or an editable install) keeps them beside the package; a container
image may put them elsewhere and say so with ``BOUNCE_SCHEMAS_DIR`` / ``BOUNCE_RULES_DIR``.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def schemas_dir() -> Path:
    return Path(os.environ.get("BOUNCE_SCHEMAS_DIR", PROJECT_ROOT / "schemas"))


def rules_dir() -> Path:
    return Path(os.environ.get("BOUNCE_RULES_DIR", PROJECT_ROOT / "rules"))
