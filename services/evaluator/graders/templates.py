"""OpenAI's eval templates filled in: `{{item.question}}` is the item's field,
`{{sample.output_text}}` the sample's; a value that is not a string is written as JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tuneloop_core.jobspecs.eval_run import TEMPLATE_REF


class TemplateError(ValueError):
    """A reference the item or the sample does not have (that item errors, the run goes on)."""


def lookup(path: str, context: Mapping[str, Any]) -> Any:
    """The value at a dotted path such as "item.answer" or "item.messages"."""
    value: Any = context
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise TemplateError(f"'{{{{{path}}}}}': the {path.split('.')[0]} has no '{part}'")
    return value


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def render(template: str, item: Mapping[str, Any], sample: Mapping[str, Any]) -> str:
    """The template with every reference replaced; TemplateError for one that is missing."""
    context = {"item": item, "sample": sample}
    return TEMPLATE_REF.sub(lambda m: as_text(lookup(m.group(1).strip(), context)), template)
