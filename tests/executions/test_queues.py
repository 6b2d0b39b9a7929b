"""Queue matching: every rule, both examples of Flyte's guide, tie-breaks, no match."""

from pathlib import Path

import pytest

from batchmap.config.loader import Overrides, resolve
from batchmap.executions.queues import NoQueueError, choose_queue, pick
from tests.conftest import TESTDATA

GOOD = TESTDATA / "config" / "good"


def _queues(name: str):
    # HOME is the test's own (conftest's `isolated`): the config check's cache goes there,
    # never into tests/testdata.
    return resolve(Overrides(config=str(GOOD / name)), {}, GOOD, Path.home()).queues


def choose(queues, project="p", domain="d", workflow="w", execution="e", **kw):
    return choose_queue(
        project=project, domain=domain, workflow=workflow, execution=execution, queues=queues, **kw
    )


def test_guide_simple_example_sends_everything_to_tutorial() -> None:
    choice = choose(_queues("guide-simple.yaml"))
    assert (choice.queue, choice.rule, choice.tag) == ("tutorial", "workflowConfigs", "default")


@pytest.mark.parametrize(
    ("project", "domain", "workflow", "queue"),
    [
        ("my_queue_1", "production", "my_workflow_1", "critical"),
        ("production", "production", "my_workflow_2", "gpu_dynamic"),
        ("production", "development", "my_workflow_2", "gpu_dynamic"),  # any domain
        ("my_queue_3", "production", "my_workflow_3", "critical"),
        ("my_queue_1", "development", "my_workflow_1", "default"),  # domain differs
        ("other", "production", "my_workflow_2", "default"),  # project differs
        ("anything", "else", "at_all", "default"),
    ],
)
def test_guide_complex_example(project: str, domain: str, workflow: str, queue: str) -> None:
    choice = choose(_queues("guide-complex.yaml"), project, domain, workflow)
    assert choice.queue == queue


def test_explicit_queue_wins() -> None:
    choice = choose(_queues("guide-complex.yaml"), explicit="manual")
    assert (choice.queue, choice.rule) == ("manual", "--queue")


def test_most_specific_entry_wins_and_ties_go_to_the_later() -> None:
    queues = {
        "executionQueues": [
            {"dynamic": "qa", "attributes": ["a"]},
            {"dynamic": "qb", "attributes": ["b"]},
            {"dynamic": "qc", "attributes": ["c"]},
        ],
        "workflowConfigs": [
            {"domain": "d", "tags": ["a"]},  # weight 1
            {"project": "p", "tags": ["b"]},  # weight 2, earlier: loses the tie
            {"project": "p", "tags": ["c"]},  # weight 2, later: wins, as in FlyteAdmin
            {"tags": ["b"]},
        ],
    }
    assert choose(queues).queue == "qc"
    assert choose(queues, project="x").queue == "qa"
    assert choose(queues, project="x", domain="y").queue == "qb"
    # workflowName (4) beats project + domain (3)
    queues["workflowConfigs"].insert(0, {"project": "p", "domain": "d", "tags": ["a"]})
    queues["workflowConfigs"].append({"workflowName": "w", "tags": ["b"]})
    choice = choose(queues)
    assert choice.queue == "qb"
    assert any("workflowConfigs[5] wins" in s.why for s in choice.steps)


def test_tags_are_tried_in_order_and_the_chosen_entry_decides() -> None:
    queues = {
        "executionQueues": [
            {"dynamic": "q1", "attributes": ["one"]},
            {"dynamic": "q2", "attributes": ["two"]},
        ],
        "workflowConfigs": [
            {"project": "p", "tags": ["missing", "two", "one"]},
            {"tags": ["one"]},
        ],
    }
    choice = choose(queues)
    assert choice.queue == "q2"
    assert "tags 'missing' name no queue; tag 'two'" in choice.steps[-1].why
    # FlyteAdmin: the chosen entry's tags name no queue -> no queue (no fall-through).
    queues["workflowConfigs"][0]["tags"] = ["missing"]
    with pytest.raises(NoQueueError) as info:
        choose(queues)
    assert "no queue has its tags missing" in info.value.hint
    # An entry without tags does not count: the default's tags are used.
    queues["workflowConfigs"][0]["tags"] = []
    assert choose(queues).queue == "q1"


def test_several_queues_with_a_tag_spread_by_execution_name_reproducibly() -> None:
    queues = {
        "executionQueues": [{"dynamic": f"q{i}", "attributes": ["t"]} for i in range(4)],
        "workflowConfigs": [{"tags": ["t"]}],
    }
    picks = {choose(queues, execution=f"exec{i}").queue for i in range(40)}
    assert picks == {"q0", "q1", "q2", "q3"}
    assert choose(queues, execution="same").queue == choose(queues, execution="same").queue
    assert pick(["a", "b"], "x") == pick(["a", "b"], "x")


def test_execution_queue_attributes_override_workflow_configs() -> None:
    queues = _queues("guide-complex.yaml")
    attributes = [
        {"project": "p", "tags": ["critical"]},
        {"project": "p", "domain": "d", "tags": ["gpu"]},
        {"project": "p", "domain": "d", "workflow": "w", "tags": ["nope", "default"]},
        {"project": "p", "domain": "d", "workflow": "other", "tags": ["critical"]},
    ]
    choice = choose(queues, attributes=attributes)
    assert (choice.queue, choice.rule, choice.tag) == (
        "default",
        "executionQueueAttributes",
        "default",
    )
    assert choose(queues, workflow="x", attributes=attributes).queue == "gpu_dynamic"
    assert choose(queues, domain="z", workflow="x", attributes=attributes).queue == "critical"
    # Overrides whose tags have no queue fall back to workflowConfigs.
    fallback = choose(
        queues,
        project="production",
        workflow="my_workflow_2",
        attributes=[{"project": "production", "tags": ["nope"]}],
    )
    assert (fallback.queue, fallback.rule) == ("gpu_dynamic", "workflowConfigs")


def test_no_match_exits_4_with_the_explanation() -> None:
    queues = {
        "executionQueues": [{"dynamic": "q", "attributes": ["a"]}],
        "workflowConfigs": [{"domain": "prod", "tags": ["a"]}],
    }
    with pytest.raises(NoQueueError) as info:
        choose(queues, domain="dev")
    assert info.value.exit_code == 4
    assert info.value.message == "no job queue matches project=p domain=d workflow=w".replace(
        "domain=d", "domain=dev"
    )
    assert "domain does not match" in info.value.hint
    with pytest.raises(NoQueueError, match="no job queue matches"):
        choose({})


# FlyteAdmin's own cases: flyteadmin/pkg/manager/impl/executions/queues_test.go (TestGetQueue,
# TestGetQueueDefaults), with its matchable EXECUTION_QUEUE resources written as batchmap's
# executionQueueAttributes; then the workflowConfigs rules of queues.go's GetQueue, which
# upstream does not test. None means FlyteAdmin's empty singleQueueConfiguration{}.
_ADMIN_QUEUES = {
    "TestGetQueue": (
        {"executionQueues": [{"dynamic": "queue dynamic", "attributes": ["attribute"]}]},
        [{"project": "project", "domain": "domain", "workflow": "name", "tags": ["attribute"]}],
    ),
    "TestGetQueueDefaults": (
        {
            "executionQueues": [
                {"dynamic": "queue1 dynamic", "attributes": ["attr1"]},
                {"dynamic": "queue2 dynamic", "attributes": ["attr2"]},
                {"dynamic": "queue3 dynamic", "attributes": ["attr3"]},
                {"dynamic": "default dynamic", "attributes": ["default"]},
            ],
            "workflowConfigs": [{"tags": ["default"]}],
        },
        [
            {"project": "project", "domain": "domain", "workflow": "workflow", "tags": ["attr3"]},
            {"project": "project", "domain": "domain", "tags": ["attr2"]},
            {"project": "project", "tags": ["attr1"]},
        ],
    ),
    "GetQueue workflowConfigs": (
        {
            "executionQueues": [
                {"dynamic": "q-prod-1", "attributes": ["prod1"]},
                {"dynamic": "q-prod-2", "attributes": ["prod2"]},
                {"dynamic": "q-default-1", "attributes": ["default1"]},
                {"dynamic": "q-default-2", "attributes": ["default2"]},
            ],
            "workflowConfigs": [
                {"domain": "production", "tags": ["prod1"]},
                {"tags": ["default1"]},
                {"domain": "production", "tags": ["nowhere", "prod2"]},
                {"domain": "staging", "tags": []},
                {"domain": "dead", "tags": ["nowhere"]},
                {"tags": ["default2"]},
            ],
        },
        [],
    ),
}


@pytest.mark.parametrize(
    ("case", "project", "domain", "workflow", "queue"),
    [
        ("TestGetQueue", "project", "domain", "name", "queue dynamic"),
        ("TestGetQueue", "project", "domain", "name2", None),
        ("TestGetQueue", "project", "domain2", "name", None),
        ("TestGetQueue", "project2", "domain", "name", None),
        ("TestGetQueueDefaults", "unmatched", "domain", "workflow", "default dynamic"),
        ("TestGetQueueDefaults", "project", "UNMATCHED", "workflow", "queue1 dynamic"),
        ("TestGetQueueDefaults", "project", "domain", "UNMATCHED", "queue2 dynamic"),
        ("TestGetQueueDefaults", "project", "domain", "workflow", "queue3 dynamic"),
        # the later entry of a domain wins; a tag without a queue is skipped
        ("GetQueue workflowConfigs", "p", "production", "w", "q-prod-2"),
        # the later domain-less entry is the default
        ("GetQueue workflowConfigs", "p", "development", "w", "q-default-2"),
        # a domain entry with no tags: the default's tags
        ("GetQueue workflowConfigs", "p", "staging", "w", "q-default-2"),
        # the domain's tags name no queue: no queue, even with a default
        ("GetQueue workflowConfigs", "p", "dead", "w", None),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_flyteadmin_get_queue_cases(
    case: str, project: str, domain: str, workflow: str, queue: str | None
) -> None:
    queues, attributes = _ADMIN_QUEUES[case]
    if queue is None:
        with pytest.raises(NoQueueError):
            choose(queues, project, domain, workflow, attributes=attributes)
    else:
        assert choose(queues, project, domain, workflow, attributes=attributes).queue == queue
