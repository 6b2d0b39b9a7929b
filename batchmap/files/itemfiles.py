"""Item files read as a stream of located records: ``.txt``, ``.jsonl``, ``.json``, ``.csv``.

Each reader yields ``Record(line, value, error)`` one item at a time, so a file of
ten million items never sits in memory: lines are read one by one, a ``.json``
array is split incrementally (``json`` itself only reads whole documents), and a
``.csv`` goes through the ``csv`` module row by row. Sources are local files,
S3 objects (a streamed GetObject through the caller's client) or stdin; a
``.gz`` suffix is decompressed on the way. A record with an ``error`` says what
is wrong on that line; readers go on after a bad line where the format allows,
so that several problems are reported at once.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

FORMATS = ("txt", "jsonl", "json", "csv")
EXTENSIONS = {".txt": "txt", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv"}
CHUNK = 1 << 20
_WS = re.compile(r"[ \t\n\r]*")


class Record(NamedTuple):
    """One item: its line, its value (or what is wrong), and its JSON text when the
    source holds it on one line already (spooled as is when the value needs no change)."""

    line: int
    value: Any = None
    error: str | None = None
    raw: str | None = None


def format_of(name: str, given: str | None = None) -> str | None:
    """The format named, or the one the file name's extension says (``.gz`` aside)."""
    if given:
        return given.lower() if given.lower() in FORMATS else None
    suffixes = [s.lower() for s in Path(name.rstrip("/")).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    return EXTENSIONS.get(suffixes[-1]) if suffixes else None


def maybe_gunzip(name: str, stream: IO[bytes]) -> IO[bytes]:
    if name.lower().endswith(".gz"):
        return gzip.GzipFile(fileobj=stream)  # type: ignore[return-value]
    return stream


_raw_decode = json.JSONDecoder().raw_decode


def _json_line(text: str) -> Any:
    """One JSON value filling a stripped line (json.loads without its per-call overhead)."""
    value, end = _raw_decode(text)
    if end != len(text):
        raise json.JSONDecodeError("Extra data", text, end)
    return value


def records(stream: IO[bytes], fmt: str) -> Iterator[Record]:
    """The records of a binary stream in format ``fmt``."""
    if fmt == "txt":
        return _lines(stream, parse=None)
    if fmt == "jsonl":
        return _lines(stream, parse=_json_line)
    if fmt == "json":
        return _json_array(stream)
    return _csv_rows(stream)


def _lines(stream: IO[bytes], parse: Any) -> Iterator[Record]:
    """One record a line; blank lines are skipped. ``parse`` None keeps the text."""
    for number, raw in enumerate(stream, 1):
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            yield Record(number, error="not UTF-8 text")
            continue
        if parse is None:
            text = text.rstrip("\r\n")
            if text.strip():
                yield Record(number, text)
            continue
        text = text.strip()
        if not text:
            continue
        try:
            yield Record(number, parse(text), None, text)
        except ValueError as exc:
            yield Record(number, error=f"not JSON: {_json_reason(exc)}")


def _json_reason(exc: ValueError) -> str:
    return exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)


class _Buffer:
    """Text read in chunks, with the consumed part dropped and its lines counted."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.text = io.TextIOWrapper(stream, encoding="utf-8-sig")
        self.buf = ""
        self.pos = 0
        self.line = 1
        self.eof = False

    def more(self, at_least: int = CHUNK) -> bool:
        """Read another chunk; False at the end of the stream."""
        if self.eof:
            return False
        chunk = self.text.read(max(CHUNK, at_least))
        if not chunk:
            self.eof = True
            return False
        self.buf = self.buf[self.pos :] + chunk
        self.pos = 0
        return True

    def advance(self, end: int) -> None:
        self.line += self.buf.count("\n", self.pos, end)
        self.pos = end

    def skip_space(self) -> str:
        """The next non-blank character ('' at the end of the stream)."""
        while True:
            self.advance(_WS.match(self.buf, self.pos).end())  # type: ignore[union-attr]
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.more():
                return ""


def _json_array(stream: IO[bytes]) -> Iterator[Record]:
    """The elements of one JSON array, decoded one at a time."""
    decoder = json.JSONDecoder()
    buf = _Buffer(stream)
    try:
        if buf.skip_space() != "[":
            yield Record(buf.line, error="not a JSON array (expected '[')")
            return
        buf.advance(buf.pos + 1)
        if buf.skip_space() == "]":
            buf.advance(buf.pos + 1)
        else:
            while True:
                buf.skip_space()
                while True:  # a value may run past the chunk: read more and decode again
                    try:
                        value, end = decoder.raw_decode(buf.buf, buf.pos)
                    except json.JSONDecodeError as exc:
                        if _cut_short(exc, buf.buf) and buf.more(2 * len(buf.buf)):
                            continue
                        line = buf.line + buf.buf.count("\n", buf.pos, exc.pos)
                        yield Record(line, error=f"not JSON: {exc.msg}")
                        return
                    if end == len(buf.buf) and buf.more(2 * len(buf.buf)):
                        continue  # a number cut at the chunk's end would decode short
                    break
                raw = buf.buf[buf.pos : end]
                yield Record(buf.line, value, None, None if "\n" in raw else raw)
                buf.advance(end)
                after = buf.skip_space()
                if after == "]":
                    buf.advance(buf.pos + 1)
                    break
                if after != ",":
                    problem = "expected ',' or ']' after an item" if after else "no closing ']'"
                    yield Record(buf.line, error=f"not JSON: {problem}")
                    return
                buf.advance(buf.pos + 1)
        if buf.skip_space():
            yield Record(buf.line, error="not JSON: text after the array's closing ']'")
    except UnicodeDecodeError:
        yield Record(buf.line, error="not UTF-8 text")


def _cut_short(exc: json.JSONDecodeError, text: str) -> bool:
    """Did decoding fail only because the chunk ended inside the value?

    Past the end of the text, or inside a string that runs to it (a JSON string
    cannot hold a raw newline, so an unterminated one reached the chunk's end);
    anything else is a real error, reported without reading further.
    """
    return exc.pos >= len(text) - 6 or exc.msg.startswith("Unterminated string")


def _csv_rows(stream: IO[bytes]) -> Iterator[Record]:
    """Each row after the header as a mapping of column name to text."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            yield Record(1, error="no header row: the first line names the columns")
            return
        doubled = sorted({h for h in header if header.count(h) > 1})
        if doubled:
            yield Record(reader.line_num, error=f"column {doubled[0]!r} appears twice")
            return
        start = reader.line_num + 1
        for row in reader:
            if not row:
                start = reader.line_num + 1
                continue
            if len(row) != len(header):
                yield Record(start, error=f"{len(row)} fields, the header has {len(header)}")
            else:
                yield Record(start, dict(zip(header, row, strict=True)))
            start = reader.line_num + 1
    except csv.Error as exc:
        yield Record(reader.line_num, error=f"not CSV: {exc}")
    except UnicodeDecodeError:
        yield Record(reader.line_num + 1, error="not UTF-8 text")
