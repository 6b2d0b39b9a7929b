"""Queue matching: every rule, both examples of Flyte's guide, tie-breaks, no match."""

import pytest

from batchmap.config.loader import Overrides, resolve
from batchmap.executions.queues import NoQueueError, choose_queue, pick
from tests.conftest import TESTDATA

GOOD = TESTDATA / "config" / "good"


def _queues(name: str):
    return resolve(Overrides(config=str(GOOD / name)), {}, GOOD, GOOD).queues


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


def test_most_specific_entry_wins_and_ties_go_to_the_earlier() -> None:
    queues = {
        "executionQueues": [
            {"dynamic": "qa", "attributes": ["a"]},
            {"dynamic": "qb", "attributes": ["b"]},
            {"dynamic": "qc", "attributes": ["c"]},
        ],
        "workflowConfigs": [
            {"domain": "d", "tags": ["a"]},  # weight 1
            {"project": "p", "tags": ["b"]},  # weight 2
            {"project": "p", "tags": ["c"]},  # weight 2, later: loses the tie
            {"tags": ["c"]},
        ],
    }
    assert choose(queues).queue == "qb"
    assert choose(queues, project="x").queue == "qa"
    assert choose(queues, project="x", domain="y").queue == "qc"
    # workflowName (4) beats project + domain (3)
    queues["workflowConfigs"].insert(0, {"project": "p", "domain": "d", "tags": ["a"]})
    queues["workflowConfigs"].append({"workflowName": "w", "tags": ["c"]})
    assert choose(queues).queue == "qc"


def test_tags_are_tried_in_order_and_dead_entries_fall_through() -> None:
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
    assert choose(queues).queue == "q2"
    queues["workflowConfigs"][0]["tags"] = ["missing"]
    choice = choose(queues)
    assert choice.queue == "q1"
    assert any(not s.matched and "no queue has its tags" in s.why for s in choice.steps)


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
