"""Reading a request body: JSON or form, bounded in size and nesting before it is parsed."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from live_progress.exceptions import BadBody

# Deeper than this is no argument list but an attack (json recursion ends in a 500).
MAX_DEPTH = 20


def _depth(text: str) -> int:
    """How deeply brackets nest in a JSON text (strings skipped), without parsing it."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def read_body(request: HttpRequest) -> dict[str, Any]:
    """The body as a dict: a JSON object, or the form's fields (last value of each)."""
    try:
        if request.content_type == "application/json":
            text = request.body.decode() if request.body else "{}"
            if _depth(text) > MAX_DEPTH:
                raise BadBody(f"The JSON body nests deeper than {MAX_DEPTH} levels.")
            data = json.loads(text or "{}")
            if not isinstance(data, dict):
                raise BadBody(
                    'The JSON body must be an object, e.g. {"task": ..., "kwargs": {...}}.'
                )
            return data
        return {key: request.POST.get(key) for key in request.POST if key != "csrfmiddlewaretoken"}
    except RequestDataTooBig as error:
        raise BadBody("The request body is too large.", status=413) from error
    except (ValueError, UnicodeDecodeError) as error:
        raise BadBody("The request body is not valid JSON.") from error
