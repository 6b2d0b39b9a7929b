import pytest

from batchmap.aws.arns import role_arn_problem, service_account_problem

# (value, what the error says): shared with the bad-input corpus count.
BAD_ROLE_ARNS = [
    ("role/x", "must start with 'arn:' at character 1"),
    ("arn:aws:iam::123456789012", "expected 5"),
    (
        "arn:azure:iam::123456789012:role/x",
        "unknown partition 'azure' (one of aws, aws-cn, aws-us-gov, …) at character 5",
    ),
    ("arn:aws:sts::123456789012:assumed-role/x/y", "service is 'sts', expected 'iam'"),
    ("arn:aws:iam:us-east-1:123456789012:role/x", "IAM ARNs have no region at character 13"),
    ("arn:aws:iam::12345:role/x", "account '12345' is not 12 digits at character 14"),
    ("arn:aws:iam::123456789012:user/bob", "a 'user' ARN, not a 'role/' ARN at character 27"),
    ("arn:aws:iam::123456789012:role/", "the role name is empty at character 32"),
    (
        "arn:aws:iam::123456789012:role/bad name",
        "' ' is not allowed in a role name at character 35",
    ),
    ("arn:aws:iam::123456789012:role/" + "r" * 65, "65 characters long (at most 64)"),
]
BAD_SERVICE_ACCOUNTS = [
    ("", "it is empty"),
    ("Spark", "'S' is not allowed at character 1"),
    ("spark_runner", "'_' is not allowed at character 6"),
    ("-spark", "'-' cannot start or end a name at character 1"),
    ("spark-", "'-' cannot start or end a name at character 6"),
    ("a..b", "an empty label"),
    ("a" * 254, "254 characters long (at most 253)"),
]


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::123456789012:role/batchmap",
        "arn:aws:iam::123456789012:role/path/to/my.role+x=y,z@q_r-s",
        "arn:aws-cn:iam::123456789012:role/x",
        "arn:aws-us-gov:iam::123456789012:role/x",
        "arn:aws:iam::123456789012:role/" + "r" * 64,
    ],
)
def test_good_role_arns(arn: str) -> None:
    assert role_arn_problem(arn) is None


@pytest.mark.parametrize(("arn", "message"), BAD_ROLE_ARNS)
def test_bad_role_arns_say_where(arn: str, message: str) -> None:
    problem = role_arn_problem(arn)
    assert problem is not None and message in problem
    assert "e.g. arn:aws:iam::123456789012:role/batchmap-task" in problem


@pytest.mark.parametrize("name", ["default", "spark", "my-sa.team-1", "a" * 253, "0abc"])
def test_good_service_accounts(name: str) -> None:
    assert service_account_problem(name) is None


@pytest.mark.parametrize(("name", "message"), BAD_SERVICE_ACCOUNTS)
def test_bad_service_accounts(name: str, message: str) -> None:
    problem = service_account_problem(name)
    assert problem is not None and message in problem
