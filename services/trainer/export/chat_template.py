"""A Hugging Face (Jinja) chat template → the pieces of an Ollama (Go) template.

Jinja cannot be translated in general, so the template is *probed*: it renders a few
conversations whose contents are unique markers, and the text around the markers is what
the template writes before the first message, between two messages (by their roles) and
after the last. The Go template replays exactly those pieces; `render` does the same in
Python so tests can hold it against the Jinja rendering.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)
MARK = "\x00{}\x00"  # contents no template alters or contains
Pair = tuple[str, str]
# Conversations whose renderings give every piece: (roles, add_generation_prompt).
PROBES: list[tuple[tuple[str, ...], bool]] = [
    (("user",), True),
    (("user", "assistant"), False),
    (("user", "assistant", "user"), True),
    (("system", "user"), True),
]


@dataclass
class TemplatePieces:
    start: dict[str, str] = field(default_factory=dict)  # role of the first message → text
    between: dict[Pair, str] = field(default_factory=dict)  # (prev role, role) → text
    end: dict[str, str] = field(default_factory=dict)  # role of the last message → text
    supports_system: bool = True


def _render(tokenizer: Any, template: str, roles: tuple[str, ...], gen: bool) -> list[str]:
    """The rendered text split at the markers: len(roles) + 1 pieces."""
    messages = [{"role": r, "content": MARK.format(i)} for i, r in enumerate(roles)]
    text = str(
        tokenizer.apply_chat_template(
            messages, chat_template=template, tokenize=False, add_generation_prompt=gen
        )
    )
    pieces: list[str] = []
    for i in range(len(roles)):
        before, marker, text = text.partition(MARK.format(i))
        if not marker:
            raise ValueError(f"the chat template dropped message {i} ({roles[i]})")
        pieces.append(before)
    return [*pieces, text]


def probe(tokenizer: Any, template: str, strip_bos: str | None = None) -> TemplatePieces:
    """`strip_bos`: a BOS text the template writes that llama.cpp and Ollama add anyway."""
    out = TemplatePieces()
    for roles, gen in PROBES:
        try:
            parts = _render(tokenizer, template, roles, gen)
        except Exception as exc:  # a template may refuse a role (Gemma has no system)
            if "system" in roles:
                log.warning("the chat template has no system role: %s", exc)
                out.supports_system = False
                continue
            raise
        first = parts[0]
        if strip_bos and first.startswith(strip_bos):
            first = first[len(strip_bos) :]
        out.start.setdefault(roles[0], first)
        for i in range(1, len(roles)):
            out.between.setdefault((roles[i - 1], roles[i]), parts[i])
        out.end.setdefault(roles[-1], parts[-1])
    return out


def render(pieces: TemplatePieces, messages: list[dict[str, str]]) -> str:
    """What the Go template produces for `messages` (a generation prompt after a user)."""
    text, prev = "", ""
    for message in messages:
        role = message["role"]
        if not prev:
            text += pieces.start.get(role, pieces.start["user"])
        else:
            text += pieces.between.get((prev, role), pieces.between[("assistant", "user")])
        text += message["content"]
        prev = role
    return text + pieces.end.get(prev, pieces.end["user"])


def _literal(text: str) -> str:
    """Template text; `{{` would open an action, so it is written as a quoted string."""
    return text.replace("{{", '{{ "{{" }}')


def go_template(pieces: TemplatePieces) -> str:
    """The Ollama TEMPLATE. One line with no trim markers: every character outside an
    action is the model's own text, newlines included."""
    t = ['{{ $prev := "" }}{{ range .Messages }}']
    t.append('{{ if eq $prev "" }}')
    for role, text in pieces.start.items():
        if role != "user":
            t.append(f'{{{{ if eq .Role "{role}" }}}}{_literal(text)}{{{{ else }}}}')
    t.append(_literal(pieces.start["user"]))
    t.append("{{ end }}" * (len(pieces.start) - 1))
    for (prev, role), text in pieces.between.items():
        if (prev, role) != ("assistant", "user"):
            t.append(f'{{{{ else if and (eq $prev "{prev}") (eq .Role "{role}") }}}}')
            t.append(_literal(text))
    t.append(f"{{{{ else }}}}{_literal(pieces.between[('assistant', 'user')])}{{{{ end }}}}")
    t.append("{{ .Content }}{{ $prev = .Role }}{{ end }}")
    t.append(f'{{{{ if eq $prev "assistant" }}}}{_literal(pieces.end["assistant"])}')
    t.append(f"{{{{ else }}}}{_literal(pieces.end['user'])}{{{{ end }}}}")
    return "".join(t)
