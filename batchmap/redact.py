"""Secrets that must never be shown: the password of a URL someone configured.

An endpoint URL may carry credentials (``http://user:password@proxy:4566``, as some
local AWS emulators and proxies take them). batchmap uses the URL as given, and
shows it everywhere — errors, ``config show``, ``--dryRun`` — with the password
replaced by ``***``.
"""

from __future__ import annotations

import re

# ``scheme://user:password@host``: user and password hold no '/', '@' or whitespace.
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*):[^\s/@]*@")


def redact(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    return _URL_PASSWORD.sub(r"\g<head>:***@", text)
