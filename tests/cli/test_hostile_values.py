"""Values that used to end in exit 1, a traceback or a wrong code (issue 18): each is now
one line and a documented exit code; and what batchmap prints neither obeys a child's
terminal escapes nor shows a URL's password."""

import io
import json
from pathlib import Path

import pytest

from batchmap.cli.app import main
from batchmap.cli.context import Environment
from tests.backends.local.test_local_backend import PY
from tests.conftest import TESTDATA, Invoke, extract_all

SQUARES = Path(__file__).parents[2] / "examples" / "squares.yaml"
P = ("-p", "flytesnacks", "-d", "development")
PL = ("-p", "proj", "-d", "dev")


def test_columns_that_are_not_a_number_are_ignored(cli: Invoke) -> None:
    assert cli("register", "files", str(SQUARES)).exit_code == 0
    for value in ("abc", "-3", "", "1e9", "0", "²", "٣", " 80"):
        result = cli("get", "launchplan", *P, env={"COLUMNS": value})
        assert result.exit_code == 0, (value, result.stderr)
        assert "squares" in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--endpoint-url", "not a url"], "aws.endpointUrl (from --endpoint-url): must be an http"),
        (["--endpoint-url", "ftp://x"], "aws.endpointUrl (from --endpoint-url): must be an http"),
        (["--region", "not a region!"], "aws.region (from --region): must be an AWS region"),
    ],
)
def test_bad_endpoint_or_region_flags_are_input_errors(
    cli: Invoke, args: list[str], expected: str
) -> None:
    result = cli(*args, "get", "launchplan", *P, env={"BATCHMAP_REGISTRY": "s3://bucket/r"})
    assert result.exit_code == 3, result.stderr
    assert expected in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("AWS_REGION", "not a region!", "AWS region 'not a region!' is not a region name"),
        ("AWS_ENDPOINT_URL", "not a url", "the endpoint URL must be http(s)://HOST[:PORT]"),
        ("BATCHMAP_REGION", "us east", "aws.region (from BATCHMAP_REGION): must be an AWS region"),
    ],
)
def test_bad_region_or_endpoint_variables_are_input_errors(
    cli: Invoke, variable: str, value: str, expected: str
) -> None:
    env = {variable: value, "BATCHMAP_REGISTRY": "s3://bucket/r"}
    result = cli("get", "launchplan", *P, env=env)
    assert result.exit_code == 3, result.stderr
    assert expected in result.stderr


def test_a_password_in_an_endpoint_url_is_never_shown(cli: Invoke) -> None:
    url = "http://user:s3cr3t-pw@127.0.0.1:9"
    failed = cli(
        "--endpoint-url", url, "get", "launchplan", *P, env={"BATCHMAP_REGISTRY": "s3://b/r"}
    )
    assert failed.exit_code == 6  # nothing listens there: a network error, said once
    assert "s3cr3t-pw" not in failed.output and "user:***@127.0.0.1:9" in failed.stderr
    for fmt in ("table", "json", "yaml"):
        shown = cli("--endpoint-url", url, "config", "show", "-o", fmt)
        assert shown.exit_code == 0
        assert "s3cr3t-pw" not in shown.output and "user:***@127.0.0.1:9" in shown.stdout


@pytest.mark.parametrize("where", ["project", "execution", "launch plan"])
def test_names_over_255_bytes_are_input_errors(cli: Invoke, where: str) -> None:
    long = "a" * 300
    args = {
        "project": ["get", "execution", "-p", long, "-d", "dev"],
        "execution": ["get", "execution", *PL, long],
        "launch plan": ["get", "launchplan", *PL, long],
    }[where]
    result = cli(*args)
    assert result.exit_code == 3, result.stderr
    assert "Traceback" not in result.output and "unexpected" not in result.stderr


def test_huge_numbers_in_options_are_handled(cli: Invoke, tmp_path: Path) -> None:
    from tests.backends.local.test_local_backend import prepare

    exec_file = prepare(cli, tmp_path, [PY, "-c", "print(1)"], default=[1])
    assert (
        cli("create", "execution", *PL, "--execFile", str(exec_file), "--wait", "n").exit_code == 0
    )
    assert cli("logs", *PL, "n", "--tail", "9" * 30).exit_code == 0
    assert cli("logs", *PL, "n", "--since", "99999999999d").exit_code == 2  # a bad option value
    assert cli("logs", *PL, "n", "--index", "0-999999999999").exit_code == 2
    assert cli("get", "execution", *PL, "n", "--limit", "-5").exit_code == 2
    assert cli("relaunch", *PL, "n", "--index", "0-999999999999").exit_code == 2


def test_unquoted_timestamps_in_str_inputs_keep_their_text(cli: Invoke, tmp_path: Path) -> None:
    """YAML would read `2024-01-01 10:00:00` as a timestamp; batchmap used to pass it on
    rewritten (2024-01-01T10:00:00). A str input is the text written."""
    from tests.backends.local.test_local_backend import prepare

    keep = "import json, os, sys; json.dump(sys.argv[1], open(os.environ['BATCHMAP_OUTPUT'], 'w'))"
    command = [PY, "-c", keep, "{{ item }}"]
    exec_file = prepare(cli, tmp_path, command, items_type="list[str]", default=["x"])
    written = ["2024-01-01 10:00:00", "2024-1-1 1:00:00", "2024-01-01", "2024-02-30"]
    items = "".join(f"        - {w}\n" for w in written)  # unquoted, as people write them
    exec_file.write_text(f"version: v1\nworkflow: lp\ninputs:\n    xs:\n{items}")
    result = cli("create", "execution", *PL, "--execFile", str(exec_file), "--wait", "ts")
    assert result.exit_code == 0, result.stderr
    outputs = cli("get", "execution", *PL, "ts", "--outputs", "-o", "json")
    assert json.loads(outputs.stdout) == written


def _with_resources(tmp_path: Path, **resources: str) -> list[Path]:
    """The test package's .pb files with the map task's resource requests replaced."""
    import tarfile

    from flyteidl.admin import task_pb2
    from flyteidl.core import tasks_pb2

    with tarfile.open(TESTDATA / "flyte" / "pkg.tgz") as archive:
        extract_all(archive, tmp_path / "pb")
    files = sorted((tmp_path / "pb").glob("*.pb"))
    (mapped,) = [f for f in files if "map_square" in f.name]
    spec = task_pb2.TaskSpec()
    spec.ParseFromString(mapped.read_bytes())
    del spec.template.container.resources.requests[:]
    names = {"cpu": tasks_pb2.Resources.CPU, "gpu": tasks_pb2.Resources.GPU}
    names["memory"] = tasks_pb2.Resources.MEMORY
    for name, value in resources.items():
        spec.template.container.resources.requests.append(
            tasks_pb2.Resources.ResourceEntry(name=names[name], value=value)
        )
    mapped.write_bytes(spec.SerializeToString())
    return files


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({"cpu": "lots"}, "cpu 'lots' is not a quantity batchmap reads (such as 2 or 500m)"),
        ({"gpu": "1.5"}, "gpu '1.5' is not a whole number of GPUs"),
        ({"memory": "9" * 400}, "is more than AWS Batch can ask for"),
        ({"memory": "4Xi"}, "memory '4Xi' is not a quantity batchmap reads"),
        ({"cpu": "9" * 400}, "is more than AWS Batch can ask for"),
    ],
)
def test_crafted_flytekit_resources_are_one_line(
    cli: Invoke, tmp_path: Path, resources: dict[str, str], expected: str
) -> None:
    files = _with_resources(tmp_path, **resources)
    result = cli("register", "files", *map(str, files), *P, "--version", "v1")
    assert result.exit_code == 3, result.stderr
    assert expected in result.stderr


def test_a_damaged_flyte_task_in_the_registry_is_one_line(cli: Invoke, isolated: Path) -> None:
    """What a hand-written `flyte:` block registered before batchmap refused it."""
    assert cli("register", "files", str(SQUARES)).exit_code == 0
    entry = isolated / ".batchmap/registry/flytesnacks/development/launchplans/squares/v1.json"
    record = json.loads(entry.read_text())
    record["spec"]["flyte"] = {"taskTemplate": "abc=", "taskName": "t", "bindings": {}}
    entry.write_text(json.dumps(record))
    assert cli("get", "launchplan", *P, "squares", "--execFile", "e.yaml").exit_code == 0
    result = cli("create", "execution", *P, "--execFile", "e.yaml", "--dryRun")
    assert result.exit_code == 3, result.stderr
    assert "the registered Flyte task 't' is unreadable" in result.stderr


def test_reserved_index_variables_are_refused_on_both_backends(cli: Invoke) -> None:
    assert cli("register", "files", str(SQUARES)).exit_code == 0
    assert cli("get", "launchplan", *P, "squares", "--execFile", "e.yaml").exit_code == 0
    text = (
        Path("e.yaml")
        .read_text()
        .replace("envs: {}", "envs:\n    BATCH_JOB_ARRAY_INDEX_OFFSET: '5'")
    )
    Path("e.yaml").write_text(text)
    for backend in ("local", "aws"):
        result = cli(
            "create", "execution", *P, "--execFile", "e.yaml", "--backend", backend, "--dryRun"
        )
        assert result.exit_code == 3, result.stderr
        assert "envs.BATCH_JOB_ARRAY_INDEX_OFFSET: BATCH_JOB_ARRAY_INDEX_OFFSET is reserved" in (
            result.stderr
        )


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_logs_on_a_terminal_show_escape_sequences_instead_of_obeying_them(
    cli: Invoke, tmp_path: Path, isolated: Path
) -> None:
    from tests.backends.local.test_local_backend import prepare

    hostile = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\x9b"
    printer = [PY, "-c", f"print({hostile!r})", "{{ item }}"]
    exec_file = prepare(cli, tmp_path, printer, default=[1])
    assert (
        cli("create", "execution", *PL, "--execFile", str(exec_file), "--wait", "esc").exit_code
        == 0
    )
    piped = cli("logs", *PL, "esc")
    assert hostile in piped.stdout  # piped: the bytes as written, for files and grep
    stdout, stderr = _Terminal(), io.StringIO()
    env = Environment(stdout, stderr, {}, Path.cwd(), isolated)
    assert main(["logs", *PL, "esc"], env) == 0
    shown = stdout.getvalue()
    assert "\x1b" not in shown and "\x07" not in shown and "\x9b" not in shown
    assert "\\x1b]0;pwned\\x07\\x1b[2J\\x1b[31mred\\x9b" in shown


def test_table_cells_and_messages_never_carry_escape_sequences(cli: Invoke, tmp_path: Path) -> None:
    """A child's reason (here, flytekit's error message, or any status) reaches tables."""
    from batchmap.cli.output import Output, OutputFormat
    from batchmap.cli.tables import Column

    out = Output(OutputFormat.table, io.StringIO(), io.StringIO(), {})
    out.table([Column("REASON", "reason")], [{"reason": "bad \x1b[2J\x1b]0;t\x07 end"}])
    out.error("a \x1b[31m message")
    assert "\x1b" not in out.stdout.getvalue() + out.stderr.getvalue()
    assert "\\x1b[2J" in out.stdout.getvalue() and "\\x1b[31m" in out.stderr.getvalue()


def test_the_bad_input_corpus_has_the_new_classes() -> None:
    names = {p.name for p in TESTDATA.glob("*/bad/*.yaml")}
    assert {"nan-ratio.yaml", "type-nested-1200.yaml", "hand-written-flyte.yaml"} <= names
    assert {"reserved-index-offset.yaml", "nul-in-env.yaml", "invalid-date-item.yaml"} <= names
    assert {"bad-endpoint-url.yaml", "nan-number.yaml", "invalid-date.yaml"} <= names


@pytest.mark.parametrize("field", ["version", "workflow", "targetProject"])
def test_control_characters_in_names_are_input_errors(cli: Invoke, field: str) -> None:
    """Found by the fuzz test (test_no_exit_1.py): a NUL byte in a name reached a path."""
    assert cli("register", "files", str(SQUARES)).exit_code == 0
    assert cli("get", "launchplan", *P, "squares", "--execFile", "e.yaml").exit_code == 0
    text = Path("e.yaml").read_text()
    key = f"{field}: "
    start = text.index(key)
    end = text.index("\n", start)
    Path("e.yaml").write_text(text[:start] + f'{key}"a\\0b"' + text[end:])
    result = cli("create", "execution", *P, "--execFile", "e.yaml", "--dryRun")
    assert "unexpected" not in result.stderr
    if field == "targetProject":  # not used, as in flytectl: a warning, its NUL shown escaped
        assert result.exit_code == 0, result.stderr
        assert "'a\\x00b' is not used" in result.stderr and "\x00" not in result.stderr
        return
    assert result.exit_code == 3, result.stderr


def test_integral_floats_for_memory_and_timeout_are_whole_numbers(cli: Invoke) -> None:
    """YAML reads `memory: 2048.0` and `timeout: 3600.0` as floats: registered, they
    crashed `create execution` (exit 1). A whole float is that number of MiB or seconds."""
    text = SQUARES.read_text().replace("memory: 512Mi", "memory: 2048.0")
    text = text.replace("timeout: 10m", "timeout: 3600.0")
    assert "memory: 2048.0" in text and "timeout: 3600.0" in text
    Path("floats.yaml").write_text(text)
    assert cli("register", "files", "floats.yaml").exit_code == 0
    assert cli("get", "launchplan", *P, "squares", "--execFile", "e.yaml").exit_code == 0
    (shown,) = json.loads(cli("get", "launchplan", *P, "squares", "-o", "json").stdout)
    task = shown["task"]
    assert (task["memory"], task["timeout"]) == (2048, 3600), task
    assert all(type(task[key]) is int for key in ("memory", "timeout")), task
    result = cli("create", "execution", *P, "--execFile", "e.yaml", "--dryRun", "-o", "json")
    assert result.exit_code == 0, result.stderr
    seconds = json.loads(result.stdout)["local"]["timeoutSeconds"]
    assert seconds == 3600 and type(seconds) is int
    run = cli("create", "execution", *P, "--execFile", "e.yaml", "--wait", "floats")
    assert run.exit_code == 0, run.stderr
