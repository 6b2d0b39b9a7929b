"""YAML to plain data at libyaml's speed, and lines found from the same events.

ruamel's safe constructor spends about 17 µs a scalar resolving tags in Python:
17 s for an exec file of a million inline items, against 1 s for libyaml to
produce the events. ``build_all`` turns the events of libyaml's parser
(ruamel.yaml.clib; without it, ruamel's pure-Python parser) into plain data
itself, resolving plain scalars with ruamel's own YAML 1.2 patterns. It handles
what batchmap's files hold — mappings, sequences, strings, null, booleans,
decimal integers and floats — and gives up (``Unsupported``) on anything else:
tags, anchors and aliases, merge keys, timestamps, other number forms,
duplicate keys, directives, deep nesting. The caller then loads the document
with ruamel's loader, so every value and every error stays what ruamel made of it.

``EventPositions`` finds the line of a field path by walking the events again,
only once a problem is reported; the lines of the containers it passes through
are kept, so the next problem in the same list costs nothing.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Generator, Iterator, Sequence
from typing import Any

MAX_NODES = 2_000_000
MAX_DEPTH = 64
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
_FLOAT = re.compile(r"-?[0-9]+\.[0-9]*(?:[eE][-+]?[0-9]+)?\Z")
_TAG = "tag:yaml.org,2002:"


class Unsupported(Exception):
    """The document holds something only ruamel's own loader should interpret."""


class TooLarge(Exception):
    """More values than the budget in document ``index``; ``path``: where it ran out."""

    def __init__(self, path: list[Any], index: int) -> None:
        super().__init__("too large")
        self.path = path
        self.index = index


def _events(text: str) -> Generator[Any, None, None]:
    """The parser's events: libyaml's through ruamel.yaml.clib where installed."""
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=False).parse(text)  # type: ignore[no-any-return]


_RESOLVERS: dict[str, list[tuple[str, Any]]] | None = None


def _resolvers() -> dict[str, list[tuple[str, Any]]]:
    """ruamel's YAML 1.2 implicit resolvers: first character → [(tag, pattern)]."""
    global _RESOLVERS
    if _RESOLVERS is None:
        from ruamel.yaml import YAML

        table = YAML(typ="safe", pure=False).resolver.versioned_resolver
        # ruamel compiles its patterns lazily, behind a proxy; compile them once here.
        _RESOLVERS = {
            key: [(tag, re.compile(pattern.pattern, pattern.flags)) for tag, pattern in value]
            for key, value in table.items()
            if key is not None
        }
    return _RESOLVERS


def scalar(event: Any) -> Any:
    """The value ruamel's safe loader gives a scalar, or Unsupported."""
    if event.tag is not None or event.anchor is not None:
        raise Unsupported
    value: str = event.value
    if not event.implicit[0]:  # quoted or block scalars are strings
        return value
    # Decimal ints and floats first: ruamel's float pattern needs a dot or an exponent, its
    # int pattern takes any digits, so these two resolve exactly as ruamel resolves them.
    if _INT.match(value):
        return int(value)
    resolvers = (_RESOLVERS or _resolvers()).get(value[:1])
    if resolvers is None:
        return value  # "s3://...", "abc": no implicit type starts with this character
    if _FLOAT.match(value):
        return float(value)
    tag = next((tag for tag, pattern in resolvers if pattern.match(value)), None)
    if tag is None:
        return value
    kind = tag[len(_TAG) :]
    if kind == "null":
        return None
    if kind == "bool":
        return value.lower() == "true"
    raise Unsupported  # timestamps, merge keys, 0x1f, 1_000, .inf ...


def plain_key(key: Any) -> str:
    """Mapping keys as batchmap's plain data has them (``true`` → "true", ``1`` → "1")."""
    if isinstance(key, bool):
        return str(key).lower()
    return key if isinstance(key, str) else str(key)


def build_all(text: str) -> list[Any]:
    """Every document of ``text`` as plain data.

    Raises ``Unsupported`` (load it with ruamel instead), ``TooLarge`` once the whole
    stream is read, or ruamel's own ``YAMLError`` for text that is not YAML (the same
    parser, the same error).
    """
    docs: list[Any] = []
    # Each open container: [value, keys seen (None for a list), (pending key,) or None,
    # the key of the last value added].
    stack: list[list[Any]] = []
    budget = MAX_NODES
    too_large: TooLarge | None = None
    from ruamel.yaml.events import (
        AliasEvent,
        DocumentStartEvent,
        MappingEndEvent,
        MappingStartEvent,
        ScalarEvent,
        SequenceEndEvent,
        SequenceStartEvent,
    )

    for event in _events(text):
        cls = type(event)
        if cls is ScalarEvent or cls is MappingStartEvent or cls is SequenceStartEvent:
            is_key = bool(stack) and stack[-1][1] is not None and stack[-1][2] is None
            if not is_key:  # as in the ruamel path, keys are not values: no budget, no depth
                budget -= 1
                if budget < 0 and too_large is None:
                    too_large = TooLarge(_top_path(stack), len(docs) - 1)
                if len(stack) > MAX_DEPTH:
                    raise Unsupported
            if cls is ScalarEvent:
                value = scalar(event)
            else:
                if event.tag is not None or event.anchor is not None:
                    raise Unsupported
                value = {} if cls is MappingStartEvent else []
            if stack:
                _add(stack[-1], value)
            else:
                docs.append(value)
            if cls is not ScalarEvent:
                stack.append([value, set() if cls is MappingStartEvent else None, None, None])
        elif cls is MappingEndEvent or cls is SequenceEndEvent:
            stack.pop()
        elif cls is AliasEvent:
            raise Unsupported
        elif cls is DocumentStartEvent:
            budget = MAX_NODES
            if event.version is not None or event.tags:
                raise Unsupported
    if too_large is not None:
        raise too_large
    return docs


def _add(frame: list[Any], value: Any) -> None:
    container, seen, key, _ = frame
    if seen is None:
        container.append(value)
    elif key is None:
        if isinstance(value, dict | list):
            raise Unsupported  # complex keys: ruamel says what is wrong
        if value in seen:
            raise Unsupported  # duplicate keys: ruamel's error names both lines
        seen.add(value)
        frame[2], frame[3] = (value,), plain_key(value)
    else:
        container[frame[3]] = value
        frame[2] = None


def _top_path(stack: list[list[Any]]) -> list[Any]:
    """The first part of the path of the value being built (where the budget ran out)."""
    if not stack:
        return []
    container, seen, pending, last = stack[0]
    if seen is None:
        return [len(container) - (1 if len(stack) > 1 else 0)]
    if len(stack) > 1:
        return [last]
    return [plain_key(pending[0])] if pending is not None else []


class EventPositions:
    """Lines of field paths in a YAML stream, found from the parser's events on demand."""

    def __init__(self, text: str) -> None:
        self.text = text
        # (document, path prefix) → ("map", {key: line}) or ("seq", array of lines)
        self._children: dict[tuple[int, tuple[Any, ...]], tuple[str, Any]] = {}
        self._roots: dict[int, tuple[int | None, str]] = {}

    def root_line(self, index: int) -> int | None:
        """The document's first line, 1-based; None when the document is empty or unreadable."""
        if index not in self._roots:
            self._walk(index, ())
        return self._roots.get(index, (None, ""))[0]

    def line_of(self, index: int, path: Sequence[Any]) -> int | None:
        """Line (1-based) of the deepest node on ``path`` that exists."""
        line = self.root_line(index)
        if line is None:
            return None
        prefix: tuple[Any, ...] = ()
        walked = False
        for part in path:
            found = self._children.get((index, prefix))
            if found is None and not walked:
                self._walk(index, tuple(path))
                walked = True
                found = self._children.get((index, prefix))
            if found is None:
                break
            kind, children = found
            in_map = kind == "map" and isinstance(part, str) and part in children
            in_seq = kind == "seq" and isinstance(part, int) and 0 <= part < len(children)
            if not (in_map or in_seq):
                break
            line = children[part]
            prefix = (*prefix, part)
        return line

    def _walk(self, index: int, path: tuple[Any, ...]) -> None:
        """One pass over document ``index``: the lines of every container along ``path``."""
        events = _events(self.text)
        try:
            document = -1
            for event in events:
                if type(event).__name__ == "DocumentStartEvent":
                    document += 1
                    if document == index:
                        root = next(events)
                        kind = type(root).__name__
                        container = kind in ("MappingStartEvent", "SequenceStartEvent")
                        if kind == "ScalarEvent" and _value(root) is None:
                            self._roots[index] = (None, "")
                        else:
                            # A scalar document has no position of its own: line 1.
                            line = root.start_mark.line + 1 if container else 1
                            self._roots[index] = (line, kind)
                        self._container(events, root, index, (), path)
                        return
        except Exception:  # positions are a nicety; the data already loaded
            return
        finally:
            events.close()

    def _container(
        self, events: Iterator[Any], start: Any, index: int, prefix: tuple[Any, ...], path: tuple
    ) -> None:
        """Read the node that ``start`` opens; keep its children's lines when on the path."""
        kind = type(start).__name__
        if kind not in ("MappingStartEvent", "SequenceStartEvent"):
            return
        on_path = path[: len(prefix)] == prefix
        nxt = path[len(prefix)] if on_path and len(prefix) < len(path) else None
        if kind == "SequenceStartEvent":
            lines = array("q")
            for event in events:
                if type(event).__name__ == "SequenceEndEvent":
                    break
                lines.append(event.start_mark.line + 1)
                if nxt == len(lines) - 1 and isinstance(nxt, int):
                    self._container(events, event, index, (*prefix, nxt), path)
                else:
                    _skip(events, event)
            if on_path:
                self._children[(index, prefix)] = ("seq", lines)
            return
        keys: dict[str, int] = {}
        for event in events:
            if type(event).__name__ == "MappingEndEvent":
                break
            if type(event).__name__ == "ScalarEvent":
                key = plain_key(_value(event))
                keys.setdefault(key, event.start_mark.line + 1)
            else:
                key = None
                _skip(events, event)
            value = next(events)
            if key is not None and key == nxt:
                self._container(events, value, index, (*prefix, key), path)
            else:
                _skip(events, value)
        if on_path:
            self._children[(index, prefix)] = ("map", keys)


def _value(event: Any) -> Any:
    try:
        return scalar(event)
    except Unsupported:
        return event.value


def _skip(events: Iterator[Any], start: Any) -> None:
    """Consume the rest of the node ``start`` opens."""
    if type(start).__name__ not in ("MappingStartEvent", "SequenceStartEvent"):
        return
    depth = 1
    for event in events:
        name = type(event).__name__
        if name == "MappingStartEvent" or name == "SequenceStartEvent":
            depth += 1
        elif name == "MappingEndEvent" or name == "SequenceEndEvent":
            depth -= 1
            if depth == 0:
                return
