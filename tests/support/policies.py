"""Policy files for tests: the default file with some of its values changed.

A policy file sets every field (policies/config.py has no defaults), so a test that wants other
rules starts from the default file and changes only what it tests.
"""

from __future__ import annotations

import json
import re

from policies.config import DEFAULT_POLICY_FILE

DEFAULT_TEXT = DEFAULT_POLICY_FILE.read_text(encoding="utf-8")


def _toml_value(value: str | bool | int | float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def policy_text(**values: str | bool | int | float) -> str:
    """The default policy file with each `name = value` line named in `values` replaced.

    Every name must be set exactly once in the default file (`version`, `detention_s`,
    `lapses`, ...), so a renamed setting fails here instead of being ignored.
    """
    text = DEFAULT_TEXT
    for name, value in values.items():
        line = re.compile(rf"^{re.escape(name)} = .*$", re.MULTILINE)
        text, found = line.subn(f"{name} = {_toml_value(value)}", text)
        assert found == 1, f"`{name}` is set {found} times in the default policy file"
    return text
