"""Flyte interop (``pip install 'batchmap[flyte]'``): flytekit's packages and map tasks.

``package`` turns ``pyflyte package`` output into batchmap launch plans;
``literals`` converts between Flyte literals and plain values; ``command``
renders a map task's container the way FlytePropeller does, so each child runs
flytekit's own ``pyflyte-map-execute`` unchanged.
"""

from __future__ import annotations

from batchmap.errors import InvalidInputError

EXTRA_HINT = "pip install 'batchmap[flyte]'"


def require() -> None:
    """flyteidl and msgpack (flytekit's dataclass literals) are an optional extra: say so
    in one line when one is missing."""
    try:
        import flyteidl  # noqa: F401
        import msgpack  # noqa: F401
    except ImportError as exc:
        raise InvalidInputError(
            f"reading Flyte packages (.pb, .tgz) needs {exc.name or 'flyteidl'}, part of "
            "batchmap's 'flyte' extra",
            hint=EXTRA_HINT,
        ) from None
