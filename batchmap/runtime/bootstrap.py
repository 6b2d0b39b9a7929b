"""The job definition's command for images without batchmap: ``python3`` runs the child.

``command(template)`` is ``python3 -I -S -c PROGRAM -- TEMPLATE...``, where PROGRAM is
batchmap/runtime/child.py made small: docstrings, comments and blank lines removed (with
the parser, so the code is unchanged), then zlib-compressed and base64-encoded behind a
two-line loader that first checks the interpreter is 3.8 or later (binascii and zlib are
built into CPython's standard library; the ``base64`` module would cost an import).

Why compressed: AWS Batch refuses a job definition above 24 KiB, and that budget also holds
the task's environment, tags and template. The stripped source alone is about two thirds
of it; compressed, the whole command is about a quarter (docs/aws.md gives the figures).
Why base64 rather than the denser base85: its alphabet has no ``$``, ``(`` or quote, so
nothing in it is touched by Kubernetes' ``$(VAR)`` expansion of EKS commands, AWS Batch's
``Ref::`` parameters, or JSON escaping. ``-I -S``: the image's site-packages,
``PYTHON*`` variables and working directory cannot change what the child runs, and
Python starts faster without ``site``.

Making the program (parsing and tokenizing child.py, compressing it) costs about 50 ms, so
it is made once per change of child.py, of this module or of batchmap's version, and kept
in ``$XDG_CACHE_HOME/batchmap/bootstrap/`` (default ``~/.cache/batchmap``); a cache that
cannot be read or written is simply not used.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from batchmap import __version__

CHILD = Path(__file__).with_name("child.py")
PYTHON = ("python3", "-I", "-S")
MIN_PYTHON = (3, 8)


def strip(source: str) -> str:
    """``source`` without docstrings, comments and blank lines (a body left empty gets
    ``pass``), indented by one space a level; the syntax tree is otherwise the same."""
    import ast
    import io
    import tokenize

    tree = ast.parse(source)
    dropped: set[int] = set()
    passes: dict[int, int] = {}
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        first = node.body[0] if node.body else None
        if (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        ):
            dropped.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
            if len(node.body) == 1:
                passes[first.lineno] = first.col_offset
    comments: dict[int, int] = {}
    inside_strings: set[int] = set()  # lines of multi-line strings, kept as they are
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.start[1]
        elif token.type == tokenize.STRING and token.start[0] != token.end[0]:
            inside_strings.update(range(token.start[0] + 1, token.end[0] + 1))
    lines = []
    for number, line in enumerate(source.splitlines(), start=1):
        if number in passes:
            lines.append(_indent(" " * passes[number] + "pass"))
        elif number in dropped:
            continue
        elif number in inside_strings:  # a comment may follow the string's last line
            lines.append(line[: comments[number]].rstrip() if number in comments else line)
        else:
            text = line[: comments[number]].rstrip() if number in comments else line.rstrip()
            if text:
                lines.append(_indent(text))
    return "\n".join(lines) + "\n"


def _indent(line: str) -> str:
    """One space per four of indentation (a line of code, never one inside a string): the
    blocks keep their structure, brackets ignore it, and the command is 2% smaller."""
    text = line.lstrip(" ")
    return " " * ((len(line) - len(text)) // 4) + text


def cache_folder() -> Path:
    from batchmap.files.cachedir import cache_root

    return cache_root(os.environ, Path.home()) / "bootstrap"


@lru_cache(maxsize=1)
def program() -> str:
    """The ``-c`` program: a version check, then the compressed child (made once per
    change, see the module's docstring)."""
    source = CHILD.read_bytes()
    key = hashlib.sha256(
        b"\0".join([source, Path(__file__).read_bytes(), __version__.encode()])
    ).hexdigest()[:32]
    try:
        entry: Path | None = cache_folder() / f"{key}.py"
    except RuntimeError:  # no HOME and no home directory: no cache
        entry = None
    try:
        if entry is not None:
            return entry.read_text("ascii")
    except (OSError, ValueError):
        pass
    text = make_program(source.decode("utf-8"))
    if entry is not None:
        _remember(entry, text)
    return text


def _remember(entry: Path, text: str) -> None:
    """Keep ``text`` as the only entry (best effort: a failure only costs making it again)."""
    from batchmap.errors import StorageWriteError
    from batchmap.files.atomic import atomic_write_text

    try:
        atomic_write_text(entry, text, mode=0o600)
        for other in entry.parent.glob("*.py"):
            if other != entry:
                other.unlink(missing_ok=True)
    except (OSError, StorageWriteError):
        return


def make_program(source: str) -> str:
    """The program for child.py's ``source``."""
    import base64
    import zlib

    packed = base64.b64encode(zlib.compress(strip(source).encode(), 9))
    major, minor = MIN_PYTHON
    return (
        f"# batchmap {__version__}: batchmap/runtime/child.py, compressed\n"
        "import sys\n"
        f"if sys.version_info<{MIN_PYTHON!r}:sys.stderr.write('batchmap-task: error: this "
        f"image has Python %d.%d; the child needs {major}.{minor} or later "
        "(see examples/Dockerfile)\\n'%sys.version_info[:2]);sys.exit(70)\n"
        f"import binascii,zlib;exec(zlib.decompress(binascii.a2b_base64('{packed.decode()}')))"
    )


def command(template: Sequence[str]) -> list[str]:
    """The container command that runs ``template`` as a child, with only python3 needed."""
    return [*PYTHON, "-c", program(), "--", *template]
