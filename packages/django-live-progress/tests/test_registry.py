"""live_progress/registry.py: the tasks the web may start and the arguments they take."""

from __future__ import annotations

import pytest
from django.test import override_settings
from testproject import tasks

from live_progress import registry
from live_progress.exceptions import NotStartable


def test_the_listed_tasks_in_order_with_their_labels_and_forms() -> None:
    entries = registry.listed()
    assert [e.name for e in entries] == ["testproject.tasks.count", "testproject.tasks.wait"]
    count, wait = entries
    assert (count.label, count.short_name, count.form) == ("Count", "count", tasks.CountForm)
    assert (wait.label, wait.form) == ("Wait", None)


def test_a_task_is_found_by_its_dotted_or_short_name_and_the_first_by_default() -> None:
    assert registry.find("testproject.tasks.wait").short_name == "wait"
    assert registry.find("wait").name == "testproject.tasks.wait"
    assert registry.find(None).name == "testproject.tasks.count"


def test_an_unlisted_task_is_not_startable_and_the_listed_ones_are_named() -> None:
    with pytest.raises(NotStartable, match=r"'silent'.*listed: count, wait"):
        registry.find("silent")


@override_settings(PROGRESS_TASKS=[])
def test_with_nothing_listed_nothing_is_startable() -> None:
    with pytest.raises(NotStartable, match="PROGRESS_TASKS is empty"):
        registry.find(None)


def test_arguments_are_cleaned_by_the_tasks_form() -> None:
    count = registry.find("count")
    assert count.clean({"steps": "7"}) == {"steps": 7}
    assert count.clean({}) == {}
    with pytest.raises(NotStartable, match="steps"):
        count.clean({"steps": 0})
    with pytest.raises(NotStartable, match="does not take colour"):
        count.clean({"colour": "red"})


def test_a_task_without_a_form_takes_no_arguments() -> None:
    wait = registry.find("wait")
    assert wait.clean({}) == {}
    with pytest.raises(NotStartable, match=r"does not take seconds \(it takes no arguments\)"):
        wait.clean({"seconds": 1})


def test_the_signature_is_the_task_with_the_cleaned_arguments() -> None:
    signature = registry.find("count").signature({"steps": 3})
    assert (signature.task, signature.kwargs) == ("testproject.tasks.count", {"steps": 3})
