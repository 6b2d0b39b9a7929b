"""The programs batchmap is measured against, written into the benchmark itself.

- ``typer_app``: a bare typer app with batchmap's command tree (every command, option,
  help text and default), generated from batchmap's own tree and importing nothing of
  batchmap: what `--help` costs in typer alone.
- ``NAIVE_STATUS``: the boto3 script a person writes to see an array job: describe the
  parent, then every child 100 at a time (AWS ParallelCluster's ``awsbstat -e``), and
  print a row per child.
- ``PARENT_STATUS``: one DescribeJobs of the parent, printing its ``statusSummary``: the
  least any status command can do.
- ``BY_HAND_CREATE``: boto3 by hand for a map: read the items, PutObject them, SubmitJob
  one array job over them (the job definition registered beforehand).
"""

from __future__ import annotations

import enum
import inspect
import pathlib
import textwrap
import types
import typing
from typing import Any

NAIVE_STATUS = """
import sys
from collections import Counter

import boto3

parent = sys.argv[1]
batch = boto3.client("batch")
job = batch.describe_jobs(jobs=[parent])["jobs"][0]
size = job["arrayProperties"]["size"]
ids = [f"{parent}:{i}" for i in range(size)]
children = []
for start in range(0, size, 100):
    children += batch.describe_jobs(jobs=ids[start : start + 100])["jobs"]
counts = Counter(child["status"] for child in children)
print(job["jobName"], job["status"], dict(counts))
for child in sorted(children, key=lambda c: int(c["jobId"].rsplit(":", 1)[1])):
    container = child.get("container") or {}
    print(child["jobId"].rsplit(":", 1)[1], child["status"], container.get("exitCode"),
          child.get("statusReason") or "", container.get("logStreamName") or "")
"""

PARENT_STATUS = """
import sys

import boto3

job = boto3.client("batch").describe_jobs(jobs=[sys.argv[1]])["jobs"][0]
print(job["jobName"], job["status"], job["arrayProperties"]["statusSummary"])
"""

BY_HAND_CREATE = """
import json
import sys
import uuid

import boto3
import yaml

exec_file, bucket, queue, definition = sys.argv[1:5]
with open(exec_file) as handle:
    items = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))["inputs"]["xs"]
name = "e" + uuid.uuid4().hex[:19]
key = f"by-hand/{name}/items.json"
boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(items).encode())
job = boto3.client("batch").submit_job(
    jobName=name,
    jobQueue=queue,
    jobDefinition=definition,
    arrayProperties={"size": len(items)},
    containerOverrides={"environment": [{"name": "ITEMS", "value": f"s3://{bucket}/{key}"}]},
)
print(job["jobId"])
"""


def script(text: str) -> str:
    return textwrap.dedent(text).lstrip()


# --- the bare typer app --------------------------------------------------------------------


class _Writer:
    """Python source of a typer app equal to a (typer) click command tree."""

    def __init__(self) -> None:
        self.enums: dict[type, str] = {}
        self.lines: list[str] = []
        self.functions = 0

    def annotation(self, kind: Any) -> str:
        if typing.get_origin(kind) in (typing.Union, types.UnionType):  # X | None
            (kind,) = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            if kind not in self.enums:
                self.enums[kind] = f"{kind.__name__}{len(self.enums)}"
            return self.enums[kind]
        if typing.get_origin(kind) is list:
            return f"list[{self.annotation(typing.get_args(kind)[0])}]"
        if kind is pathlib.Path or (isinstance(kind, type) and issubclass(kind, pathlib.PurePath)):
            return "Path"
        return {str: "str", int: "int", float: "float", bool: "bool"}[kind]

    def value(self, value: Any) -> str:
        if isinstance(value, enum.Enum):
            return f"{self.annotation(type(value))}.{value.name}"
        return repr(value)

    def parameter(self, param: Any, metas: dict[str, Any]) -> str:
        # The annotation and typer's own info, from the command's function: typer 0.29 keeps
        # them on the click parameter, earlier versions do not.
        meta = metas[param.name]
        kind = self.annotation(meta.annotation)
        info = meta.default
        args: list[str] = []
        is_option = type(param).__name__ == "TyperOption"
        if is_option:
            flags = list(param.opts)
            if param.secondary_opts:
                flags[0] = f"{flags[0]}/{'/'.join(param.secondary_opts)}"
            args += [repr(flag) for flag in flags]
        for name in ("help", "envvar", "metavar"):
            if getattr(param, name, None) is not None:
                args.append(f"{name}={getattr(param, name)!r}")
        for name in ("min", "max"):
            if getattr(info, name, None) is not None:
                args.append(f"{name}={getattr(info, name)!r}")
        if param.show_default is not None and param.show_default is not True:
            args.append(f"show_default={param.show_default!r}")
        if getattr(param, "hidden", False):
            args.append("hidden=True")
        if getattr(info, "case_sensitive", True) is False:
            args.append("case_sensitive=False")
        if param.is_eager:
            args.append("is_eager=True")
        call = f"typer.{'Option' if is_option else 'Argument'}({', '.join(args)})"
        optional = " | None" if not param.required and param.default is None else ""
        default = "..." if param.required else self.value(param.default)
        return f"    {param.name}: Annotated[{kind}{optional}, {call}] = {default},"

    def command(self, parent: str, name: str, command: Any) -> None:
        self.functions += 1
        function = f"command_{self.functions}"
        hidden = ", hidden=True" if command.hidden else ""
        self.lines.append(f"@{parent}.command({name!r}, help={command.help!r}{hidden})")
        self.lines.append(f"def {function}(")
        metas = _metas(command)
        self.lines += [self.parameter(p, metas) for p in command.params if p.name not in ("help",)]
        self.lines += [") -> None:", "    pass", "", ""]

    def group(self, variable: str, group: Any) -> None:
        import typer

        # In the order the group lists them (batchmap's root orders its commands itself).
        names = group.list_commands(typer.Context(group))
        for name, sub in ((n, group.commands[n]) for n in names):
            if hasattr(sub, "commands"):
                self.functions += 1
                child = f"group_{self.functions}"
                self.lines.append(
                    f"{child} = typer.Typer(help={sub.help!r}, "
                    f"no_args_is_help={bool(getattr(sub, 'no_args_is_help', False))!r})"
                )
                self.lines.append(f"{variable}.add_typer({child}, name={name!r})")
                self.group(child, sub)
            else:
                self.command(variable, name, sub)


def _metas(command: Any) -> dict[str, Any]:
    """typer's view of a click command's parameters: name → ParamMeta (annotation, info)."""
    import typer.utils

    return typer.utils.get_params_from_function(inspect.unwrap(command.callback))


def typer_app(app: Any) -> str:
    """Source of a bare typer app with the tree of typer app ``app`` (no import of it)."""
    import typer.main

    root = typer.main.get_command(app)
    writer = _Writer()
    info = app.info
    order = root.list_commands(typer.Context(root))
    writer.lines += [
        "class InOrder(TyperGroup):",
        "    def list_commands(self, ctx: object) -> list[str]:",
        f"        return {order!r}",
        "",
        "",
    ]
    writer.lines.append(
        f"app = typer.Typer(cls=InOrder, name={info.name!r}, help={info.help!r}, "
        f"no_args_is_help={bool(info.no_args_is_help)!r}, "
        f"add_completion={app._add_completion!r}, "
        f"pretty_exceptions_enable={app.pretty_exceptions_enable!r}, "
        f"rich_markup_mode={app.rich_markup_mode!r}, "
        f"context_settings={info.context_settings!r})"
    )
    writer.lines += ["", "", "@app.callback()", "def root("]
    metas = _metas(root)
    writer.lines += [
        writer.parameter(p, metas)
        for p in root.params
        if p.name not in ("help", "install_completion", "show_completion")
    ]
    writer.lines += [") -> None:", f"    {root.help!r}", "", ""]
    writer.group("app", root)
    enums = []
    for kind, name in writer.enums.items():
        enums.append(f"class {name}(str, Enum):")
        enums += [f"    {member.name} = {member.value!r}" for member in kind]
        enums += ["", ""]
    head = [
        '"""A bare typer app with batchmap\'s command tree (generated by benchmarks/)."""',
        "",
        "from enum import Enum",
        "from pathlib import Path",
        "from typing import Annotated",
        "",
        "import typer",
        "from typer.core import TyperGroup",
        "",
        "",
    ]
    tail = ["if __name__ == '__main__':", "    app()", ""]
    return "\n".join(head + enums + writer.lines + tail)
