"""A small blob store over a local folder or an ``s3://bucket/prefix``.

Inputs, outputs, manifests and registered launch plans all live behind this
one interface, so every feature works the same on a laptop and on S3. Keys
are relative, ``/``-separated, and can never climb out of the store's root.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from batchmap.aws.clients import aws_call
from batchmap.errors import InvalidInputError
from batchmap.files.atomic import (
    atomic_create_bytes,
    atomic_write_bytes,
    atomic_write_stream,
    translated,
)
from batchmap.files.safe import kind_of, private_dir

MAX_SEGMENT_BYTES = 255


class AlreadyExists(Exception):
    """``put(..., exclusive=True)`` found an object at the key."""


class Changed(Exception):
    """``put``/``delete`` with ``if_match``: the object is gone or is not that version."""


def check_key(key: str) -> str:
    """Refuse keys that could escape the store's root."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise InvalidInputError(f"invalid storage key {key!r}: no empty, '.' or '..' segments")
    for part in parts:  # a file name holds at most 255 bytes (and an S3 key 1,024)
        if any(ord(c) < 32 or ord(c) == 127 for c in part):  # NUL cannot be in a path
            raise InvalidInputError(f"name {part[:40]!r} holds a control character")
        if len(part.encode("utf-8", "surrogateescape")) > MAX_SEGMENT_BYTES:
            raise InvalidInputError(
                f"name {part[:40]!r}... is {len(part.encode('utf-8', 'surrogateescape'))} bytes "
                "long: names in the store "
                f"are at most {MAX_SEGMENT_BYTES} bytes"
            )
    return key


class BlobStore(Protocol):
    """Objects by key. ``put`` returns the new version's tag; ``exclusive`` creates only
    (``AlreadyExists``), ``if_match=TAG`` replaces only that version (``Changed``)."""

    def uri(self, key: str) -> str: ...
    def location(self, key: str) -> str: ...
    def get(self, key: str) -> bytes | None: ...
    def get_tagged(self, key: str) -> tuple[bytes, str] | None: ...
    def put(
        self, key: str, data: bytes, *, exclusive: bool = False, if_match: str | None = None
    ) -> str: ...
    def put_stream(self, key: str, stream: BinaryIO) -> None: ...
    def delete(self, key: str, *, if_match: str | None = None) -> None: ...
    def list(self, prefix: str) -> Iterator[str]: ...


def _tag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """A write into a local store that the system refuses (a storage folder that is a
    file, a missing or unwritable parent, a full disk) is one line, not a crash."""
    try:
        yield
    except OSError as exc:
        raise InvalidInputError(
            f"cannot write {path}: {exc.strerror or exc}",
            hint="check the storage and registry folders ('batchmap config show')",
        ) from None


class LocalStore:
    """A folder on this machine."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def uri(self, key: str) -> str:
        return self.path(key).as_uri()

    def location(self, key: str) -> str:
        """Where a program finds ``key``: a plain path here."""
        return str(self.path(key))

    def get(self, key: str) -> bytes | None:
        path = self.path(key)
        try:
            info = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat.S_ISREG(info.st_mode):  # a FIFO would block, a device never end
            raise InvalidInputError(
                f"{path}: is {kind_of(info.st_mode)}, not a file batchmap wrote"
            )
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def get_tagged(self, key: str) -> tuple[bytes, str] | None:
        data = self.get(key)
        return None if data is None else (data, _tag(data))

    def put(
        self, key: str, data: bytes, *, exclusive: bool = False, if_match: str | None = None
    ) -> str:
        path = self.path(key)
        with _writing(path):
            if exclusive:
                try:
                    atomic_create_bytes(path, data)
                except FileExistsError:
                    raise AlreadyExists(key) from None
            elif if_match is not None:
                with self._guard(path.parent):
                    current = self.get(key)
                    if current is None or _tag(current) != if_match:
                        raise Changed(key)
                    atomic_write_bytes(path, data)
            else:
                atomic_write_bytes(path, data)
        return _tag(data)

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        path = self.path(key)
        with self._guard(path.parent) if if_match is not None else contextlib.nullcontext():
            if if_match is not None:
                current = self.get(key)
                if current is None or _tag(current) != if_match:
                    raise Changed(key)
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                path.unlink()

    @staticmethod
    @contextlib.contextmanager
    def _guard(folder: Path) -> Iterator[None]:
        """Compare-and-swap needs read, compare and write as one step: an exclusive flock
        on the object's folder (no other file needed) serialises them across processes."""
        import fcntl

        with translated(folder), _writing(folder):
            private_dir(folder)
        fd = os.open(folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def put_stream(self, key: str, stream: BinaryIO) -> None:
        path = self.path(key)
        with _writing(path):
            atomic_write_stream(path, stream)

    def list(self, prefix: str) -> Iterator[str]:
        base = self.root / check_key(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if not base.is_dir():
            return
        for path in sorted(base.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                yield path.relative_to(self.root).as_posix()


class S3Store:
    """An ``s3://bucket/prefix`` reached through an injected boto3 S3 client."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def location(self, key: str) -> str:
        """Where a program finds ``key``: its s3:// URI."""
        return self.uri(key)

    def get(self, key: str) -> bytes | None:
        tagged = self.get_tagged(key)
        return None if tagged is None else tagged[0]

    def get_tagged(self, key: str) -> tuple[bytes, str] | None:
        from botocore.exceptions import ClientError

        with aws_call("s3:GetObject"):
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    return None
                raise
            data: bytes = response["Body"].read()
        return data, str(response["ETag"])

    def put(
        self, key: str, data: bytes, *, exclusive: bool = False, if_match: str | None = None
    ) -> str:
        """S3's conditional writes: ``IfNoneMatch='*'`` creates only, ``IfMatch=ETAG``
        replaces only that version (412 PreconditionFailed otherwise, 409 on a race)."""
        from botocore.exceptions import ClientError

        extra = {"IfNoneMatch": "*"} if exclusive else {}
        if if_match is not None:
            extra["IfMatch"] = if_match
        with aws_call("s3:PutObject"):
            try:
                response = self.client.put_object(
                    Bucket=self.bucket, Key=self._key(key), Body=data, **extra
                )
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code in ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"):
                    if exclusive:
                        raise AlreadyExists(key) from None
                    if if_match is not None:
                        raise Changed(key) from None
                raise
        return str(response.get("ETag", ""))

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        """DeleteObject, with ``IfMatch`` (S3's conditional delete) when given."""
        from botocore.exceptions import ClientError

        extra = {"IfMatch": if_match} if if_match is not None else {}
        with aws_call("s3:DeleteObject"):
            try:
                self.client.delete_object(Bucket=self.bucket, Key=self._key(key), **extra)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if if_match is not None and code in (
                    "PreconditionFailed",
                    "ConditionalRequestConflict",
                    "NoSuchKey",
                    "404",
                ):
                    raise Changed(key) from None
                raise

    def put_stream(self, key: str, stream: BinaryIO) -> None:
        with aws_call("s3:PutObject"):
            self.client.upload_fileobj(stream, self.bucket, self._key(key))

    def list(self, prefix: str) -> Iterator[str]:
        full = (
            self._key(prefix.rstrip("/")) + "/"
            if prefix.strip("/")
            else (f"{self.prefix}/" if self.prefix else "")
        )
        strip = len(self.prefix) + 1 if self.prefix else 0
        paginator = self.client.get_paginator("list_objects_v2")
        with aws_call("s3:ListObjectsV2"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
                for item in page.get("Contents", []):
                    yield item["Key"][strip:]


def parse_s3_uri(uri: str) -> tuple[str, str]:
    rest = uri[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    return bucket, prefix


def open_store(location: str, s3_client: Any = None) -> BlobStore:
    """The store for a resolved location (``s3://…`` or an absolute folder)."""
    if location.startswith("s3://"):
        bucket, prefix = parse_s3_uri(location)
        if s3_client is None:
            raise ValueError("an s3:// store needs an S3 client")
        return S3Store(s3_client, bucket, prefix)
    return LocalStore(Path(location))
