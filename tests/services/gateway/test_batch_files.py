"""A batch's partial output and error files: a worker killed mid-write leaves a torn last
line, which the next worker cuts off (and answers that line again); whole lines count as
done, by their line number, with their tokens."""

from __future__ import annotations

import json
from pathlib import Path

from services.gateway.batches.lines import Line, error_record, line_of, output_record
from services.gateway.batches.partial import PartialFiles
from tuneloop_core.errors import NotFoundError

USAGE = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}


def test_recover_cuts_a_torn_line_and_counts_whole_ones(tmp_path: Path) -> None:
    files = PartialFiles(tmp_path / "b" / "output.jsonl", tmp_path / "b" / "errors.jsonl")
    one, two, three = (Line(n, f"c{n}", {"model": "m"}) for n in (1, 2, 3))
    files.append(
        [output_record(one, {"usage": USAGE}), output_record(two, {"usage": USAGE})],
        [error_record(three, NotFoundError("no such model", param="model"))],
    )
    whole = files.output.read_bytes()
    with files.output.open("ab") as handle:  # killed while writing line 4's record
        handle.write(json.dumps(output_record(Line(4, "c4", {}), {}))[:30].encode())
    tally = files.recover()
    assert files.output.read_bytes() == whole
    assert tally.lines == {1, 2, 3}
    assert (tally.completed, tally.failed) == (2, 1)
    assert (tally.prompt_tokens, tally.completion_tokens) == (10, 6)
    [error] = [json.loads(x) for x in files.errors.read_text().splitlines()]
    assert error["error"] == {"code": "not_found", "message": "line 3: no such model"}
    assert error["response"]["status_code"] == 404


def test_record_ids_carry_their_line() -> None:
    record = output_record(Line(42, "x", {}), {})
    assert record["id"].startswith("batch_req_42_") and line_of(record["id"]) == 42
    assert line_of("batch_req_abc") is None and line_of("chatcmpl-1") is None
