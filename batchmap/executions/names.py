"""Execution names: the rule (Flyte's: a lowercase letter, then up to 62 lowercase letters,
digits or '-') and a new name like Flyte's. Light on purpose: every command taking a NAME
checks it before anything else is imported."""

from __future__ import annotations

import re

from batchmap.errors import InvalidInputError

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


def generate_name() -> str:
    """A name like Flyte's: a letter, then 19 letters or digits."""
    import secrets
    import string

    first = secrets.choice(string.ascii_lowercase)
    rest = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(19))
    return first + rest


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise InvalidInputError(
            f"invalid execution name {name[:70]!r}: use 1-63 lowercase letters, digits and '-', "
            "starting with a letter"
        )
    return name
