"""Flyte literals and literal types <-> batchmap's plain values and type names.

Flyte type                                   batchmap type   value
-------------------------------------------  --------------  ------------------------------
INTEGER, FLOAT, STRING, BOOLEAN              int ... bool    the same
STRUCT (dict; a dataclass, msgpack binary)   dict            a mapping
DATETIME                                     datetime        ``2024-01-02T03:04:05Z``
DURATION                                     duration        Go's ``5m0s``, as flytectl
blob SINGLE (FlyteFile)                      file            its URI or path
blob MULTIPART (FlyteDirectory)              directory       its URI or path
collection of T                              list[T]         a list
union of T and none (``Optional[T]``)        optional[T]     the value, or null

``to_literal`` builds what flytekit reads back, driven by the task's own
literal type: a dataclass becomes the msgpack ``binary`` flytekit 1.14+ writes
(tag ``msgpack``), a blob carries its dimensionality and format, an
``Optional[T]`` value is wrapped in a union with the variant's type (None is a
bare ``none_type``, as flytekit writes it).
"""

from __future__ import annotations

from typing import Any

from batchmap.launchplans.inputs import (
    duration_seconds,
    format_datetime,
    format_duration,
    parse_datetime,
)

# flyteidl.core.types_pb2.SimpleType values
_SIMPLE = {1: "int", 2: "float", 3: "str", 4: "bool", 5: "datetime", 6: "duration", 9: "dict"}
NONE, STRUCT = 0, 9
MSGPACK = "msgpack"


class Unsupported(ValueError):
    """A Flyte type batchmap's launch plans cannot express."""


def _describe_type(literal_type: Any) -> str:
    kind = literal_type.WhichOneof("type")
    if kind == "simple":
        from flyteidl.core import types_pb2

        return types_pb2.SimpleType.Name(literal_type.simple)
    tag = literal_type.structure.tag if literal_type.HasField("structure") else ""
    return f"{kind} ({tag})" if tag else str(kind or "unknown")


def type_name(literal_type: Any) -> str:
    """``int``, ``list[file]``, ... for a flyteidl LiteralType."""
    kind = literal_type.WhichOneof("type")
    if kind == "simple" and literal_type.simple in _SIMPLE:
        return _SIMPLE[literal_type.simple]
    if kind == "blob":
        return "directory" if literal_type.blob.dimensionality == 1 else "file"
    if kind == "collection_type":
        return f"list[{type_name(literal_type.collection_type)}]"
    if kind == "union_type":
        variants = _not_none(literal_type)
        if len(variants) == 1:  # Optional[T]
            return f"optional[{type_name(variants[0])}]"
    raise Unsupported(f"Flyte type {_describe_type(literal_type)} is not supported")


def _not_none(literal_type: Any) -> list[Any]:
    return [
        v
        for v in literal_type.union_type.variants
        if v.WhichOneof("type") != "simple" or v.simple != NONE
    ]


def _struct_value(scalar: Any) -> Any:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(scalar.generic)


def to_value(literal: Any) -> Any:
    """A plain value from a flyteidl Literal."""
    kind = literal.WhichOneof("value")
    if kind == "collection":
        return [to_value(item) for item in literal.collection.literals]
    if kind == "map":
        return {k: to_value(v) for k, v in literal.map.literals.items()}
    if kind == "scalar":
        scalar = literal.scalar
        which = scalar.WhichOneof("value")
        if which == "primitive":
            primitive = scalar.primitive
            field = primitive.WhichOneof("value")
            if field == "datetime":
                return format_datetime(primitive.datetime.ToDatetime(tzinfo=_utc()))
            if field == "duration":
                return format_duration(primitive.duration.seconds, primitive.duration.nanos)
            return getattr(primitive, field) if field else None
        if which == "none_type":
            return None
        if which == "generic":
            return _struct_value(scalar)
        if which == "binary" and scalar.binary.tag == MSGPACK:
            import msgpack

            return msgpack.unpackb(scalar.binary.value, strict_map_key=False)
        if which == "blob":
            return scalar.blob.uri
        if which == "union":
            return to_value(scalar.union.value)
        which = f"{which} ({scalar.binary.tag})" if which == "binary" else which
        raise Unsupported(f"Flyte literal {which} is not supported")
    if kind is None:
        return None
    raise Unsupported(f"Flyte literal {kind} is not supported")


def _utc() -> Any:
    import datetime as dt

    return dt.timezone.utc


def is_msgpack(literal_type: Any) -> bool:
    """A STRUCT flytekit writes as msgpack (dataclasses, dicts, pydantic models)."""
    if literal_type.WhichOneof("type") != "simple" or literal_type.simple != STRUCT:
        return False
    if not literal_type.HasField("annotation"):
        return False
    metadata = literal_type.annotation.annotations.fields.get("cache-key-metadata")
    if metadata is None or metadata.WhichOneof("kind") != "struct_value":
        return False
    found = metadata.struct_value.fields.get("serialization-format")
    return found is not None and found.string_value == MSGPACK


def to_literal(value: Any, literal_type: Any) -> Any:
    """A flyteidl Literal of ``literal_type`` (the task's own type) for a plain value."""
    from flyteidl.core import literals_pb2

    literal = literals_pb2.Literal()
    kind = literal_type.WhichOneof("type")
    if kind == "collection_type":
        for item in value:
            literal.collection.literals.append(to_literal(item, literal_type.collection_type))
        return literal
    if kind == "union_type":
        if value is None:  # flytekit writes None as a bare none_type, unwrapped
            literal.scalar.none_type.SetInParent()
            return literal
        variants = _not_none(literal_type)
        if len(variants) != 1:
            raise Unsupported("only Optional[T] unions are supported")
        literal.scalar.union.value.CopyFrom(to_literal(value, variants[0]))
        literal.scalar.union.type.CopyFrom(variants[0])
        return literal
    if kind == "blob":
        blob = literal.scalar.blob
        blob.metadata.type.CopyFrom(literal_type.blob)
        blob.uri = str(value)
        return literal
    if kind != "simple":
        raise Unsupported(f"cannot build a Flyte literal of type {_describe_type(literal_type)}")
    primitive = literal.scalar.primitive
    simple = literal_type.simple
    if value is None and simple == NONE:
        literal.scalar.none_type.SetInParent()
    elif simple == 1:
        primitive.integer = int(value)
    elif simple == 2:
        primitive.float_value = float(value)
    elif simple == 3:
        primitive.string_value = str(value)
    elif simple == 4:
        primitive.boolean = bool(value)
    elif simple == 5:
        primitive.datetime.FromDatetime(parse_datetime(str(value)))
    elif simple == 6:
        seconds = duration_seconds(str(value))
        whole = int(seconds)
        primitive.duration.seconds = whole
        primitive.duration.nanos = round((seconds - whole) * 1e9)
    elif simple == STRUCT and is_msgpack(literal_type):
        import msgpack

        literal.scalar.binary.value = msgpack.packb(value)
        literal.scalar.binary.tag = MSGPACK
    elif simple == STRUCT:
        literal.scalar.generic.update(value)
    else:
        raise Unsupported(f"cannot build a Flyte literal of type {_describe_type(literal_type)}")
    return literal


def literal_map(values: dict[str, tuple[Any, Any]]) -> bytes:
    """A serialized LiteralMap ``{name: (value, LiteralType)}``: Flyte's ``inputs.pb``."""
    from flyteidl.core import literals_pb2

    message = literals_pb2.LiteralMap()
    for name, (value, literal_type) in values.items():
        message.literals[name].CopyFrom(to_literal(value, literal_type))
    return message.SerializeToString()


def read_literal_map(data: bytes) -> dict[str, Any]:
    from flyteidl.core import literals_pb2

    message = literals_pb2.LiteralMap()
    message.ParseFromString(data)
    return {name: to_value(lit) for name, lit in message.literals.items()}


def read_error(data: bytes) -> str:
    """The message of a flytekit ``error.pb`` (an ErrorDocument)."""
    from flyteidl.core import errors_pb2

    document = errors_pb2.ErrorDocument()
    document.ParseFromString(data)
    return document.error.message.strip()
