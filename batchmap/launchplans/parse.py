"""Reading launch plans: YAML files and flytekit's ``pyflyte package`` output.

A launch plan file is YAML (``batchmap/schemas/launchplan.schema.json``);
several launch plans may share one file as YAML documents. ``parse_files``
validates every document of every file and reports all problems at once,
each with its file, line and field path, before anything is registered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from batchmap.errors import InvalidInputError, Problem
from batchmap.files.schemas import schema_problems
from batchmap.files.yamldoc import YamlDocument, load_documents, read_text
from batchmap.launchplans.checks import semantic_problems
from batchmap.launchplans.model import LaunchPlan, build


@dataclass(frozen=True)
class Overrides:
    project: str | None = None
    domain: str | None = None
    version: str | None = None


def parse_document(
    doc: YamlDocument, overrides: Overrides
) -> tuple[LaunchPlan | None, list[Problem]]:
    data = doc.data
    if not isinstance(data, dict):
        return None, [doc.problem([], "expected a launch plan (a mapping) in this document")]
    problems = schema_problems(doc, "launchplan")
    data = dict(data)
    for key, flag in (("project", "-p"), ("domain", "-d"), ("version", "--version")):
        value = getattr(overrides, key)
        if value:
            data[key] = value
        elif not data.get(key):
            problems.append(doc.problem([], f"missing {key}: set it in the file or pass {flag}"))
    if problems:
        return None, problems
    problems = semantic_problems(doc, data)
    if problems:
        return None, problems
    return build(data, None), []


def parse_files(paths: Sequence[Path], overrides: Overrides = Overrides()) -> list[LaunchPlan]:
    """Every launch plan of every file; all problems of all files in one error."""
    return parse_all(paths, overrides)[0]


def _flyte_documents(
    paths: Sequence[Path], overrides: Overrides, secrets: Mapping[str, str] | None
) -> tuple[list[YamlDocument], list[tuple[str, str]]]:
    """``pyflyte package`` output as launch-plan documents, and what could not be used."""
    if not paths:
        return [], []
    from batchmap.flyte.package import launch_plans

    specs, skipped = launch_plans(
        list(paths), overrides.project, overrides.domain, overrides.version, secrets
    )
    return [
        YamlDocument(f"{', '.join(map(str, paths))} ({spec['name']})", spec) for spec in specs
    ], skipped


def parse_all(
    paths: Sequence[Path],
    overrides: Overrides = Overrides(),
    flyte_secrets: Mapping[str, str] | None = None,
) -> tuple[list[LaunchPlan], list[tuple[str, str]]]:
    """(launch plans, [(Flyte launch plan, why batchmap cannot run it)]) of YAML files and
    flytekit packages; every problem of every file in one error, before anything else.

    ``flyte_secrets`` (the config's ``aws.secrets``) maps flytekit's secret requests to ARNs."""
    from batchmap.flyte.package import is_flyte_file

    plans: list[LaunchPlan] = []
    problems: list[Problem] = []
    origin: dict[tuple[str, str, str, str], str] = {}
    flyte_docs, skipped = _flyte_documents(
        [p for p in paths if is_flyte_file(p)], overrides, flyte_secrets
    )
    groups: list[list[YamlDocument]] = [flyte_docs] if flyte_docs else []
    for path in paths:
        if is_flyte_file(path):
            continue
        docs = load_documents(read_text(path), str(path))
        docs = [d for d in docs if d.data is not None]
        if not docs:
            problems.append(Problem("holds no launch plan", file=str(path)))
        for doc in docs:
            if isinstance(doc.data, dict) and "flyte" in doc.data:
                problems.append(
                    doc.problem(
                        ["flyte"],
                        "is written by batchmap when it registers a flytekit package; "
                        "a launch plan file cannot set it",
                        hint="register the `pyflyte package` output (.tgz or .pb files) instead",
                    )
                )
        groups.append(docs)
    for docs in groups:
        for doc in docs:
            plan, found = parse_document(doc, overrides)
            problems += found
            if plan is None:
                continue
            where = f"{doc.source}:{doc.first_line}"
            if plan.key in origin:
                problems.append(
                    doc.problem(
                        [],
                        f"launch plan {'/'.join(plan.key)} is also defined at {origin[plan.key]}",
                    )
                )
                continue
            origin[plan.key] = where
            plans.append(plan)
    if problems:
        raise InvalidInputError.from_problems(problems, "invalid launch plans, nothing registered")
    return plans, skipped
