"""The tasks the web may start (`PROGRESS_TASKS`) and the arguments each one declares.

An entry is the dotted name of a Celery task, or of a function that returns a Celery
signature (a group or chord, say). Either declares its arguments with a Django form,
`@progress_form(MyForm)` above it: names, types and bounds are checked on the server,
and the page renders the same form, so the browser checks them too. An entry without
a form takes no arguments. Both processes load it: the worker with the tasks that carry
`@progress_form`, the web process to list, validate and start them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from celery import Task, current_app
from celery.canvas import Signature
from django import forms
from django.utils.module_loading import import_string

from live_progress.conf import conf
from live_progress.exceptions import NotStartable

T = TypeVar("T")


def progress_form(form: type[forms.Form], *, label: str | None = None) -> Callable[[T], T]:
    """Declare the arguments (a Django form) and the label of a startable task or canvas."""

    def declare(target: T) -> T:
        target.progress_form = form  # type: ignore[attr-defined]
        target.progress_label = label  # type: ignore[attr-defined]
        return target

    return declare


@dataclass(frozen=True)
class Startable:
    """A task (or canvas) the web may start, with the form its arguments must pass."""

    name: str
    label: str
    target: Task | Callable[..., Signature]  # type: ignore[type-arg]
    form: type[forms.Form] | None

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    def signature(self, kwargs: dict[str, Any]) -> Signature:
        """The signature to send: the task with these arguments, or the canvas built."""
        if isinstance(self.target, Task):
            return self.target.s(**kwargs)
        return self.target(**kwargs)

    def clean(self, data: dict[str, Any]) -> dict[str, Any]:
        """The arguments, validated against the form; NotStartable says what is wrong."""
        unknown = sorted(set(data) - set(self.form.base_fields if self.form else ()))
        if unknown:
            takes = ", ".join(self.form.base_fields) if self.form else "no arguments"
            raise NotStartable(
                f"{self.short_name} does not take {', '.join(unknown)} (it takes {takes})."
            )
        if self.form is None:
            return {}
        # Form fields parse str(value): JSON true, lists and objects fail as they should.
        form = self.form(data=data)
        if not form.is_valid():
            words = "; ".join(
                f"{field}: {' '.join(str(e) for e in errors)}"
                for field, errors in form.errors.items()
            )
            raise NotStartable(f"Invalid arguments for {self.short_name}: {words}")
        return {k: v for k, v in form.cleaned_data.items() if v is not None}


@cache
def discover_tasks() -> None:
    """Autodiscovery, as a worker does at start: once per process (Celery's Django fix-up
    runs every system check each time)."""
    current_app.loader.import_default_modules()


def _describe(name: str) -> Startable:
    discover_tasks()
    target = current_app.tasks.get(name) or import_string(name)
    label = getattr(target, "progress_label", None) or name.rsplit(".", 1)[-1].replace("_", " ")
    return Startable(
        name=name,
        label=str(label).capitalize(),
        target=target,
        form=getattr(target, "progress_form", None),
    )


def listed() -> list[Startable]:
    """Every entry of PROGRESS_TASKS, in order (the first is the default)."""
    return [_describe(name) for name in conf.PROGRESS_TASKS]


def find(name: str | None) -> Startable:
    """The entry for `name` (dotted or short), the first one when None; else NotStartable."""
    entries = listed()
    if not entries:
        raise NotStartable("No task can be started from the web (PROGRESS_TASKS is empty).")
    if name is None:
        return entries[0]
    for entry in entries:
        if name in (entry.name, entry.short_name):
            return entry
    names = ", ".join(entry.short_name for entry in entries)
    raise NotStartable(f"No task named {name!r} can be started here (listed: {names}).")
