"""Find, load, validate and merge batchmap's configuration.

Precedence, highest first: command-line flag, ``BATCHMAP_*`` environment
variable, config file, built-in default. The file is found by ``--config``,
then ``BATCHMAP_CONFIG``, then ``./batchmap.yaml``, then
``~/.batchmap/config.yaml``; with none, the defaults (local backend, store and
registry under ``~/.batchmap``) let a new user start without writing one.

The file takes FlyteAdmin's ``flyteadmin:``/``queues:`` blocks and
FlytePropeller's ``plugins:``/``tasks:`` blocks verbatim, so an operator can
paste their Helm values. Every value remembers where it came from, for
``batchmap config show``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchmap.config.cache import Checked
from batchmap.config.checks import STORAGE_HINT, backend_storage_problem, check_config, dig
from batchmap.errors import InvalidInputError, Problem
from batchmap.redact import redact

if TYPE_CHECKING:
    from batchmap.files.yamldoc import YamlDocument

ENV_PREFIX = "BATCHMAP_"
LOCAL_CONFIG_NAME = "batchmap.yaml"
HOME_DIR_NAME = ".batchmap"
DEFAULT_LOG_GROUP = "/aws/batch/job"


@dataclass(frozen=True)
class Value:
    """A resolved setting and where it came from."""

    value: Any
    source: str  # flag | env | file | default | unset
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """What ``config show`` prints (a URL's password as ``***``)."""
        value = redact(self.value) if isinstance(self.value, str) else self.value
        return {"value": value, "source": self.source, "detail": self.detail}


@dataclass(frozen=True)
class Overrides:
    """Values given on the command line (None when a flag was not given)."""

    config: str | None = None
    backend: str | None = None
    storage: str | None = None
    registry: str | None = None
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None


# key shown to users -> (Overrides field, env var suffix, file path, default)
_SETTINGS: tuple[tuple[str, str | None, str | None, tuple[str, ...], str | None], ...] = (
    ("backend", "backend", "BACKEND", ("backend",), "local"),
    ("storage", "storage", "STORAGE", ("storage",), "~/.batchmap/store"),
    ("registry", "registry", "REGISTRY", ("registry",), "~/.batchmap/registry"),
    ("aws.region", "region", "REGION", ("aws", "region"), None),
    ("aws.profile", "profile", "PROFILE", ("aws", "profile"), None),
    ("aws.endpointUrl", "endpoint_url", "ENDPOINT_URL", ("aws", "endpointUrl"), None),
    ("aws.logGroup", None, "LOG_GROUP", ("aws", "logGroup"), DEFAULT_LOG_GROUP),
    ("flyteadmin.roleNameKey", None, None, ("flyteadmin", "roleNameKey"), None),
    ("flyteadmin.assumableIamRole", None, None, ("flyteadmin", "assumableIamRole"), None),
)
_LOCATION_KEYS = ("storage", "registry")
# File paths whose line ``config show`` cites (found once, when the file is checked).
_CITED = (*(entry[3] for entry in _SETTINGS), ("plugins", "aws", "region"))
# The config schema's rules (config.schema.json), for values given by flags and variables.
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")
ENDPOINT_URL = re.compile(r"^https?://[^\s/?#@]*@?[^\s/?#@]+(/[^\s]*)?$")


@dataclass(frozen=True)
class Config:
    """The resolved, validated configuration of one batchmap run."""

    config_file: Path | None
    values: Mapping[str, Value]
    queues: Mapping[str, Any] = field(default_factory=dict)
    plugins_aws: Mapping[str, Any] = field(default_factory=dict)
    tasks: Mapping[str, Any] = field(default_factory=dict)
    queue_attributes: tuple[Mapping[str, Any], ...] = ()
    setup: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[Problem, ...] = ()
    aws_secrets: tuple[Mapping[str, str], ...] = ()
    cache: Path | None = None  # batchmap's cache folder (config/cache.py, files/checked.py)

    def get(self, key: str) -> Any:
        return self.values[key].value

    @property
    def backend(self) -> str:
        return str(self.get("backend"))

    @property
    def storage(self) -> str:
        return str(self.get("storage"))

    @property
    def registry(self) -> str:
        return str(self.get("registry"))

    @property
    def region(self) -> str | None:
        value = self.get("aws.region")
        return str(value) if value else None

    @property
    def profile(self) -> str | None:
        value = self.get("aws.profile")
        return str(value) if value else None

    @property
    def endpoint_url(self) -> str | None:
        value = self.get("aws.endpointUrl")
        return str(value) if value else None

    @property
    def log_group(self) -> str:
        return str(self.get("aws.logGroup"))

    @property
    def flyte_secrets(self) -> dict[str, str]:
        """``aws.secrets`` as Flyte secret (``group[/groupVersion][/key]``) -> ARN."""
        return {
            "/".join(e[k] for k in ("group", "groupVersion", "key") if e.get(k)): e["valueFrom"]
            for e in self.aws_secrets
        }

    @property
    def batch_plugin(self) -> Mapping[str, Any]:
        """FlytePropeller's ``plugins.aws.batch`` block (empty when absent)."""
        return self.plugins_aws.get("batch") or {}

    def to_dict(self) -> dict[str, Any]:
        """The documented ``config show -o json`` shape (docs/configuration.md)."""
        return {
            "configFile": str(self.config_file) if self.config_file else None,
            "settings": {key: value.to_dict() for key, value in self.values.items()},
            "queues": dict(self.queues),
            "plugins": {"aws": dict(self.plugins_aws)} if self.plugins_aws else {},
            "tasks": dict(self.tasks),
            "executionQueueAttributes": list(self.queue_attributes),
            "warnings": [w.to_dict() for w in self.warnings],
        }


def find_config_file(
    flag: str | None, environ: Mapping[str, str], cwd: Path, home: Path
) -> tuple[Path | None, str | None]:
    """The config file to use and why: (path, "flag"|"env"|"file") or (None, None)."""
    if flag:
        return _must_exist(_expand(flag, home, cwd), "--config"), "flag"
    env_value = environ.get(f"{ENV_PREFIX}CONFIG")
    if env_value:
        return _must_exist(_expand(env_value, home, cwd), f"{ENV_PREFIX}CONFIG"), "env"
    for candidate in (cwd / LOCAL_CONFIG_NAME, home / HOME_DIR_NAME / "config.yaml"):
        if candidate.is_file():
            return candidate, "file"
    return None, None


def default_config_path(home: Path) -> Path:
    return home / HOME_DIR_NAME / "config.yaml"


def _expand(value: str, home: Path, base: Path) -> Path:
    if value == "~" or value.startswith("~/"):
        return home / value[2:]
    path = Path(value)
    return path if path.is_absolute() else base / path


def _must_exist(path: Path, given_by: str) -> Path:
    if not path.exists():
        raise InvalidInputError(
            f"config file {path} (from {given_by}): no such file",
            hint="create one with 'batchmap config init'",
        )
    if path.is_dir():
        raise InvalidInputError(f"config file {path} (from {given_by}): is a directory")
    return path


def load_config(path: Path, backend: str | None = None) -> tuple[YamlDocument, list[Problem]]:
    """Load and check a config file; raise with every error at once, return warnings."""
    from batchmap.files.yamldoc import load_file

    return _check(load_file(path), path, backend)


def _check(
    doc: YamlDocument, path: Path, backend: str | None
) -> tuple[YamlDocument, list[Problem]]:
    problems = check_config(doc, backend)
    errors = [p for p in problems if not p.warning]
    if errors:
        raise InvalidInputError.from_problems(problems, f"{path}: invalid configuration")
    return doc, problems


def check_file(path: Path, backend: str | None, cache_folder: Path | None = None) -> Checked:
    """A config file, checked, or its check remembered from an earlier run with the
    same content (``batchmap.config.cache``); invalid files raise every time."""
    from batchmap.config import cache
    from batchmap.files.yamldoc import load_document, read_text

    text = read_text(path)
    content = text.encode("utf-8")
    if cache_folder is not None:
        remembered = cache.load(cache_folder, path, content, backend)
        if remembered is not None:
            return remembered
    doc, warnings = _check(load_document(text, str(path)), path, backend)
    lines = {}
    for cited in _CITED:
        line = doc.line_of(list(cited)) if dig(doc.data, cited) is not None else None
        if line is not None:
            lines[".".join(cited)] = line
    checked = Checked(doc.data, tuple(warnings), lines)
    if cache_folder is not None:
        cache.store(cache_folder, path, content, backend, checked)
    return checked


def resolve(
    overrides: Overrides,
    environ: Mapping[str, str],
    cwd: Path,
    home: Path,
) -> Config:
    """Merge flag > ``BATCHMAP_*`` env > file > default into validated Config."""
    from batchmap.config.cache import cache_dir
    from batchmap.files.cachedir import cache_root

    path, _ = find_config_file(overrides.config, environ, cwd, home)
    data: dict[str, Any] = {}
    checked: Checked | None = None
    values: dict[str, Value] = {}
    flag_backend = overrides.backend or environ.get(f"{ENV_PREFIX}BACKEND")
    if path is not None:
        checked = check_file(path, flag_backend, cache_dir(environ, home))
        data = checked.data
    for key, attr, env_suffix, file_path, default in _SETTINGS:
        flag_value = getattr(overrides, attr) if attr else None
        env_name = f"{ENV_PREFIX}{env_suffix}" if env_suffix else None
        file_value = dig(data, file_path)
        if flag_value not in (None, ""):
            value = Value(flag_value, "flag", "--" + str(attr).replace("_", "-"))
        elif env_name and environ.get(env_name):
            value = Value(environ[env_name], "env", env_name)
        elif file_value is not None and checked is not None:
            line = checked.lines.get(".".join(file_path))
            value = Value(file_value, "file", f"{path}:{line}")
        elif key == "aws.region" and dig(data, ("plugins", "aws", "region")) and checked:
            line = checked.lines.get("plugins.aws.region")
            value = Value(dig(data, ("plugins", "aws", "region")), "file", f"{path}:{line}")
        elif default is not None:
            value = Value(default, "default")
        else:
            value = _boto3_default(key, environ)
        if key in _LOCATION_KEYS:
            base = path.parent if value.source == "file" and path else cwd
            value = Value(
                _normalise_location(str(value.value), home, base), value.source, value.detail
            )
        values[key] = value
    _check_resolved(values)
    return Config(
        config_file=path,
        values=values,
        queues=data.get("queues") or {},
        plugins_aws=dig(data, ("plugins", "aws")) or {},
        tasks=data.get("tasks") or {},
        queue_attributes=tuple(data.get("executionQueueAttributes") or ()),
        setup=data.get("setup") or {},
        warnings=checked.warnings if checked else (),
        aws_secrets=tuple(dig(data, ("aws", "secrets")) or ()),
        cache=cache_root(environ, home),
    )


def _boto3_default(key: str, environ: Mapping[str, str]) -> Value:
    """Unset in batchmap: say what boto3 will use instead, if anything."""
    names = {
        "aws.region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
        "aws.profile": ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"),
        "aws.endpointUrl": ("AWS_ENDPOINT_URL",),
    }.get(key, ())
    for name in names:
        if environ.get(name):
            return Value(environ[name], "env", f"{name} (boto3)")
    return Value(None, "unset", "boto3's default chain" if names else None)


def _normalise_location(value: str, home: Path, base: Path) -> str:
    if value.startswith("s3://"):
        return value.rstrip("/")
    if value.startswith("file://"):
        value = value[len("file://") :]
    return str(_expand(value, home, base))


def _did_you_mean(word: str, choices: list[str]) -> str | None:
    from batchmap.files.schemas import did_you_mean

    return did_you_mean(word, choices)


def _check_resolved(values: Mapping[str, Value]) -> None:
    """Checks on the merged values: env vars and flags are validated like file keys."""
    problems = []
    backend = values["backend"]
    if backend.value not in ("local", "aws"):
        problems.append(
            Problem(
                f"backend must be 'local' or 'aws'; got {backend.value!r}",
                path=backend.detail or "backend",
                hint=_did_you_mean(str(backend.value), ["local", "aws"]),
            )
        )
    storage = values["storage"]
    problem = backend_storage_problem(backend.value, str(storage.value))
    if problem:
        problems.append(
            Problem(
                problem,
                path=f"storage (from {storage.detail or storage.source})",
                hint=STORAGE_HINT,
            )
        )
    for key, pattern, expected in (
        ("aws.region", REGION, "an AWS region such as us-east-2"),
        (
            "aws.endpointUrl",
            ENDPOINT_URL,
            "an http:// or https:// URL such as http://127.0.0.1:5000",
        ),
    ):
        value = values[key]
        given = value.source == "flag" or (
            value.source == "env" and (value.detail or "").startswith(ENV_PREFIX)
        )  # boto3's own AWS_* variables are judged by boto3 when a client is made
        if given and value.value and not pattern.match(str(value.value)):
            problems.append(
                Problem(
                    f"must be {expected}; got {redact(str(value.value))!r}",
                    path=f"{key} (from {value.detail or value.source})",
                )
            )
    if problems:
        raise InvalidInputError.from_problems(problems, "invalid settings")
