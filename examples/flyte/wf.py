
from flytekit import task, workflow
from flytekit.core import legacy_map_task


@task
def square(x: int) -> int:
    if x < 0:
        raise ValueError(f"cannot square a negative number here: {x}")
    return x * x


# Flyte takes literal defaults (it serializes them): a mutable default is the idiom here.
@workflow
def my_map_workflow(numbers: list[int] = [1, 2, 3]) -> list[int | None]:  # noqa: B006
    return legacy_map_task.map_task(square, min_success_ratio=0.9)(x=numbers)
