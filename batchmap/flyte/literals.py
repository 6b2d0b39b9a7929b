"""Flyte literals and literal types <-> batchmap's plain values and type names."""

from __future__ import annotations

from typing import Any

# flyteidl.core.types_pb2.SimpleType values
_SIMPLE = {1: "int", 2: "float", 3: "str", 4: "bool", 9: "dict"}


class Unsupported(ValueError):
    """A Flyte type batchmap's launch plans cannot express."""


def type_name(literal_type: Any) -> str:
    """``int``, ``list[str]``, ... for a flyteidl LiteralType."""
    kind = literal_type.WhichOneof("type")
    if kind == "simple" and literal_type.simple in _SIMPLE:
        return _SIMPLE[literal_type.simple]
    if kind == "collection_type":
        return f"list[{type_name(literal_type.collection_type)}]"
    if kind == "union_type":
        variants = [
            v
            for v in literal_type.union_type.variants
            if v.WhichOneof("type") != "simple" or v.simple != 0
        ]
        if len(variants) == 1:  # Optional[T]
            return type_name(variants[0])
    raise Unsupported(f"Flyte type {kind or 'unknown'} is not supported")


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
            return getattr(primitive, field) if field else None
        if which == "none_type":
            return None
        if which == "generic":
            from google.protobuf.json_format import MessageToDict

            return MessageToDict(scalar.generic)
        if which == "union":
            return to_value(scalar.union.value)
    if kind is None:
        return None
    raise Unsupported(f"Flyte literal {kind} is not supported")


def to_literal(value: Any, type_text: str) -> Any:
    """A flyteidl Literal for a plain value of batchmap type ``type_text``."""
    from flyteidl.core import literals_pb2

    literal = literals_pb2.Literal()
    if type_text.startswith("list["):
        inner = type_text[5:-1]
        for item in value:
            literal.collection.literals.append(to_literal(item, inner))
        return literal
    primitive = literal.scalar.primitive
    if type_text == "int":
        primitive.integer = int(value)
    elif type_text == "float":
        primitive.float_value = float(value)
    elif type_text == "str":
        primitive.string_value = str(value)
    elif type_text == "bool":
        primitive.boolean = bool(value)
    elif type_text == "dict":
        literal.scalar.generic.update(value)
    else:
        raise Unsupported(f"cannot build a Flyte literal of type {type_text}")
    return literal


def literal_map(values: dict[str, tuple[Any, str]]) -> bytes:
    """A serialized LiteralMap ``{name: (value, type)}``: Flyte's ``inputs.pb``."""
    from flyteidl.core import literals_pb2

    message = literals_pb2.LiteralMap()
    for name, (value, type_text) in values.items():
        message.literals[name].CopyFrom(to_literal(value, type_text))
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
