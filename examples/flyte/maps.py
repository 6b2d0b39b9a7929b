"""Map tasks as flytekit's docs teach them today (``flytekit.map_task``, an ArrayNode),
over the input types batchmap stages as Flyte does: lists of files, of directories and
of dataclasses, with datetime and timedelta inputs bound whole."""

import datetime
from dataclasses import dataclass
from pathlib import Path

from flytekit import Secret, map_task, task, workflow
from flytekit.types.directory import FlyteDirectory
from flytekit.types.file import FlyteFile


# cache, interruptible and secret_requests are kept by `batchmap register files`, which
# says what it applies (interruptible, mapped secrets) and what it does not (cache).
@task(
    retries=1,
    interruptible=True,
    cache=True,
    cache_version="1",
    secret_requests=[Secret(group="db", key="password")],
)
def scale(x: int, factor: int) -> int:
    if x < 0:
        raise ValueError(f"cannot scale a negative number here: {x}")
    return x * factor


# Flyte takes literal defaults (it serializes them): a mutable default is the idiom here.
@workflow
def scaled(numbers: list[int] = [1, 2, 3], factor: int = 10) -> list[int | None]:  # noqa: B006
    return map_task(scale, concurrency=2, min_success_ratio=0.5, bound_inputs={"factor"})(
        x=numbers, factor=factor
    )


@dataclass
class Point:
    x: int = 0
    y: float = 0.0
    label: str = "origin"


@task
def describe(p: Point) -> str:
    return f"{p.label}: {p.x},{p.y}"


@workflow
def described(
    points: list[Point] = [Point(), Point(x=3, y=4.5, label="p")],  # noqa: B006, B008
) -> list[str]:
    return map_task(describe)(p=points)


@task
def stamp(f: FlyteFile, since: datetime.datetime, every: datetime.timedelta) -> str:
    lines = len(Path(f.download()).read_text().splitlines())
    return f"{Path(f.path).name}: {lines} lines since {since.isoformat()} every {every}"


@workflow
def stamped(
    files: list[FlyteFile],
    since: datetime.datetime = datetime.datetime(2024, 1, 2, 3, 4, 5),
    every: datetime.timedelta = datetime.timedelta(minutes=5),
) -> list[str]:
    return map_task(stamp, bound_inputs={"since", "every"})(f=files, since=since, every=every)


@task
def count(d: FlyteDirectory, suffix: str | None) -> int:
    files = Path(d.download()).iterdir()
    return sum(1 for f in files if suffix is None or f.name.endswith(suffix))


@workflow
def counted(folders: list[FlyteDirectory], suffix: str | None = None) -> list[int]:
    return map_task(count, bound_inputs={"suffix"})(d=folders, suffix=suffix)
