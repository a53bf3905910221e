"""Job progress as plain lines where stderr is no terminal: news only (a new step, every
tenth of the way, the end, or half a minute of silence), never a line per event."""

from __future__ import annotations

import io

from rich.console import Console

from tuneloop_cli.progress import ProgressLines


def test_a_step_of_272_answers_prints_a_dozen_lines_not_272() -> None:
    out = io.StringIO()
    now = [0.0]
    lines = ProgressLines(Console(file=out, width=200), clock=lambda: now[0])
    printed = [done for done in range(1, 273) if lines.show("evaluation: generation", done, 272)]
    assert printed[0] == 1 and printed[-1] == 272
    assert 10 <= len(printed) <= 12
    assert out.getvalue().splitlines()[-1] == "  evaluation: generation: 272/272"
    # A new step prints at once; within a step, silence of 30 s prints the count.
    assert lines.show("evaluation: judge", 1, 100)
    assert not lines.show("evaluation: judge", 2, 100)
    now[0] += 31.0
    assert lines.show("evaluation: judge", 3, 100)
    now[0] += 31.0
    assert not lines.show("evaluation: judge", 3, 100)  # nothing new, nothing printed


def test_an_evaluations_own_words_are_printed_and_counted_like_any_step() -> None:
    """The evaluation's events say "answers 32/68 for epoch 2": the line is that message,
    and whether it is news is judged by the stage and the count as for any job."""
    out = io.StringIO()
    lines = ProgressLines(Console(file=out, width=200), clock=lambda: 0.0)
    for stage, done, total, message in [
        ("evaluation: generation: epoch 2", 0, 68, "evaluation: answers 0/68 for epoch 2"),
        ("evaluation: generation: epoch 2", 32, 68, "evaluation: answers 32/68 for epoch 2"),
        ("evaluation: generation: epoch 2", 33, 68, "evaluation: answers 33/68 for epoch 2"),
        ("evaluation: generation: epoch 2", 68, 68, "evaluation: answers 68/68 for epoch 2"),
        ("evaluation: metrics", 0, 4, "evaluation: metrics 0/4 models"),
        ("export: convert", 1, 3, ""),  # no message of its own: the stage and count
    ]:
        lines.show(stage, done, total, message)
    assert out.getvalue().splitlines() == [
        "  evaluation: answers 0/68 for epoch 2",
        "  evaluation: answers 32/68 for epoch 2",
        "  evaluation: answers 68/68 for epoch 2",
        "  evaluation: metrics 0/4 models",
        "  export: convert: 1/3",
    ]
