"""The python grader's sandbox: a good grader scores, and each way a grader can misbehave
(loop, memory, network, writes, commands, exceptions, bad results) comes back as an error
outcome with a clear message while the worker process goes on grading."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from services.evaluator.graders.sandbox import PythonOutcome, SandboxLimits, run_python
from tuneloop_core.errors import InvalidRequestError
from tuneloop_core.jobspecs.python_source import check_source

# One CPU second keeps the loop tests short; the wall clock stays well above it.
LIMITS = SandboxLimits(cpu_s=1, memory_mb=512, wall_s=10, output_kb=64)
SAMPLE = {"output_text": "臺北市", "output_json": {"city": "臺北市"}}
ITEM = {"reference_answer": "臺北市", "weight": 2}
GOOD = """
def grade(sample: dict, item: dict) -> float:
    matched = sample["output_text"] == item["reference_answer"]
    return float(matched) / item["weight"]
"""


async def run(source: str, limits: SandboxLimits = LIMITS) -> PythonOutcome:
    return await run_python(source, SAMPLE, ITEM, limits)


def grader(body: str, header: str = "") -> str:
    """A grader whose grade() runs `body` and then returns 1."""
    indented = "\n".join(f"    {line}" for line in body.splitlines())
    return f"{header}\ndef grade(sample, item):\n{indented}\n    return 1\n"


async def assert_still_grading() -> None:
    outcome = await run(GOOD)
    assert outcome == PythonOutcome(score=0.5, error=None, duration_ms=outcome.duration_ms)


async def test_a_good_grader_scores_from_sample_and_item() -> None:
    outcome = await run(GOOD)
    assert outcome.score == 0.5
    assert outcome.error is None
    assert 0 < outcome.duration_ms < 10_000


async def test_a_grader_may_print_and_use_its_working_directory() -> None:
    source = """
import json, math, os, re, statistics, tempfile

def grade(sample, item):
    print("debugging", sample)  # goes to stderr, not into the result
    with open("notes.txt", "w") as notes:
        notes.write(json.dumps(item))
    with tempfile.NamedTemporaryFile() as scratch:
        scratch.write(b"x")
    os.mkdir("sub")
    os.remove("notes.txt")
    return statistics.mean([0, 1]) + math.floor(0.9)
"""
    outcome = await run(source)
    assert (outcome.score, outcome.error) == (0.5, None)


async def test_an_infinite_loop_is_stopped_by_the_cpu_limit() -> None:
    outcome = await run(grader("while True:\n    pass"))
    assert outcome.error == "the grader used more than 1 s of CPU time"
    assert outcome.score is None
    await assert_still_grading()


async def test_a_loop_inside_c_code_is_stopped_too() -> None:
    outcome = await run(grader("10 ** 10 ** 10"))  # one C call: no Python signal handler runs
    assert outcome.error == "the grader used more than 1 s of CPU time"


async def test_a_sleeping_grader_is_killed_at_the_wall_clock_limit() -> None:
    limits = SandboxLimits(cpu_s=1, wall_s=1)
    outcome = await run(grader("import time\ntime.sleep(60)"), limits)
    assert outcome.error == "the grader took more than 1 s (wall clock)"
    assert outcome.duration_ms < 5_000


async def test_a_2_gb_allocation_fails_with_the_memory_limit() -> None:
    outcome = await run(grader("hoard = bytearray(2 * 1024**3)"))
    assert outcome.error == "the grader used more than 512 MiB of memory"
    await assert_still_grading()


@pytest.mark.parametrize(
    "source",
    [
        grader("socket.create_connection(('127.0.0.1', 9), timeout=1)", header="import socket"),
        grader("import socket"),
        grader("import asyncio"),  # imports socket itself
        grader("import urllib.request\nurllib.request.urlopen('http://127.0.0.1:9')"),
    ],
    ids=["create_connection", "import socket", "import asyncio", "urlopen"],
)
async def test_network_access_is_refused(source: str) -> None:
    outcome = await run(source)
    assert outcome.error == "the grader imports socket, which the sandbox does not allow"


def _can_unshare_network() -> bool:
    probe = (
        "import ctypes, sys; "
        "sys.exit(ctypes.CDLL(None, use_errno=True).unshare(0x10000000 | 0x40000000))"
    )
    return subprocess.run([sys.executable, "-c", probe], check=False).returncode == 0


@pytest.mark.skipif(
    not _can_unshare_network(), reason="this kernel allows no unprivileged network namespace"
)
async def test_the_grader_runs_in_its_own_network_namespace() -> None:
    source = "import os\ndef grade(sample, item):\n    return os.stat('/proc/self/ns/net').st_ino\n"
    outcome = await run(source)
    assert outcome.error is None
    assert outcome.score != os.stat("/proc/self/ns/net").st_ino


async def test_writing_outside_the_working_directory_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "escaped.txt"
    outcome = await run(grader(f"open({str(target)!r}, 'w').write('x')"))
    assert outcome.error == f"the grader tried to write outside its working directory: {target}"
    assert not target.exists()


async def test_a_refusal_counts_even_when_the_grader_catches_it(tmp_path: Path) -> None:
    target = tmp_path / "escaped.txt"
    body = f"try:\n    open({str(target)!r}, 'a')\nexcept OSError:\n    pass"
    outcome = await run(grader(body))
    assert outcome.error == f"the grader tried to write outside its working directory: {target}"
    assert not target.exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("import os\nos.mkdir({target!r})", "{target} (os.mkdir)"),
        ("import os\nos.open({target!r}, os.O_WRONLY | os.O_CREAT)", "{target}"),
        ("import os\nos.symlink('/etc/hostname', {target!r})", "{target} (os.symlink)"),
        (
            "import shutil\nshutil.copyfile('/etc/hostname', {target!r})",
            "{target} (shutil.copyfile)",
        ),
        (
            "import os\nos.symlink({parent!r}, 'link')\nopen('link/escaped.txt', 'w')",
            "{target}",
        ),
    ],
    ids=["mkdir", "os.open", "symlink", "copyfile", "through a symlink"],
)
async def test_other_writes_outside_are_refused(tmp_path: Path, body: str, message: str) -> None:
    target = tmp_path / "escaped.txt"
    outcome = await run(grader(body.format(target=str(target), parent=str(tmp_path))))
    expected = message.format(target=target)
    assert outcome.error == f"the grader tried to write outside its working directory: {expected}"
    assert not target.exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("import os\nos.system('true')", "the grader tried to run a command (os.system)"),
        (
            "import subprocess\nsubprocess.run(['true'])",
            "the grader tried to run a command (subprocess.Popen)",
        ),
        ("import os\nos.popen('true')", "the grader tried to run a command (subprocess.Popen)"),
        (
            "import os\nos.execv('/bin/true', ['true'])",
            "the grader tried to run a command (os.exec)",
        ),
        ("import os\nos.fork()", "the grader tried to run a command (os.fork)"),
        (
            "import os\nos.posix_spawn('/bin/true', ['true'], {})",
            "the grader tried to run a command (os.posix_spawn)",
        ),
        (
            "import _posixsubprocess\n_posixsubprocess.fork_exec()",
            "the grader tried to run a command (_posixsubprocess.fork_exec)",
        ),
        ("import ctypes", "the grader imports ctypes, which the sandbox does not allow"),
        (
            "import multiprocessing",
            "the grader imports multiprocessing, which the sandbox does not allow",
        ),
        (
            "import os\nos.kill(os.getppid(), 0)",
            "the grader tried to signal another process (os.kill)",
        ),
        (
            "import os\nopen(f'/proc/{os.getppid()}/environ').read()",
            "the grader tried to read another process's files: /proc/{ppid}/environ",
        ),
        (
            "import os\nos.open('/', os.O_RDONLY)",
            "the grader tried to open a directory outside its working directory: /",
        ),
        (
            "import gc\ngc.get_objects()",
            "the grader used gc.get_objects, which the sandbox does not allow",
        ),
    ],
    ids=[
        "os.system",
        "subprocess.run",
        "os.popen",
        "os.execv",
        "os.fork",
        "posix_spawn",
        "fork_exec",
        "ctypes",
        "multiprocessing",
        "kill the worker",
        "worker environ",
        "dir_fd outside",
        "gc",
    ],
)
async def test_commands_and_escapes_are_refused(body: str, message: str) -> None:
    outcome = await run(grader(body))
    assert outcome.error is not None
    assert outcome.error == message.format(ppid=os.getpid())


async def test_rebinding_the_runners_helpers_does_not_disable_the_hook(tmp_path: Path) -> None:
    target = tmp_path / "escaped.txt"
    body = (
        "import os, __main__\n"
        "os.path.realpath = lambda path: os.getcwd()\n"
        "__main__.BLOCKED_IMPORTS = frozenset()\n"
        "__main__.PATH_EVENTS.clear()\n"
        f"open({str(target)!r}, 'w')"
    )
    outcome = await run(grader(body))
    assert outcome.error == f"the grader tried to write outside its working directory: {target}"
    assert not target.exists()


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "def grade(sample, item):\n    total = 0\n    return 1 / total\n",
            "grade() raised ZeroDivisionError: division by zero at line 3",
        ),
        (
            "def helper(x):\n    return x['missing']\n\ndef grade(sample, item):\n"
            "    return helper(item)\n",
            "grade() raised KeyError: 'missing' at line 2",
        ),
        ("raise ValueError('at import')\n", "the source raised ValueError: at import at line 1"),
        (
            "import sys\ndef grade(s, i):\n    sys.exit(3)\n",
            "grade() raised SystemExit: 3 at line 3",
        ),
        ("def grade(sample, item):\n    return 'abc'\n", "grade() returned 'abc', not a number"),
        ("def grade(sample, item):\n    return True\n", "grade() returned True, not a number"),
        ("def grade(sample, item):\n    return None\n", "grade() returned None, not a number"),
        (
            "def grade(sample, item):\n    return float('inf')\n",
            "grade() returned inf, not a finite number",
        ),
        (
            "def grade(sample, item):\n    return 10 ** 400\n",
            "grade() returned a number that is not a finite float",
        ),
        (
            "def grader(sample, item):\n    return 1\n",
            "the source does not define grade(sample, item)",
        ),
        ("grade = 1\n", "the source does not define grade(sample, item)"),
        (
            "def grade(sample, item)\n    return 1\n",
            "the source has a syntax error at line 1: expected ':'",
        ),
        (
            "x = '\0'\n",
            "the source cannot be compiled: source code string cannot contain null bytes",
        ),
        (
            "import os\ndef grade(sample, item):\n    os._exit(3)\n",
            "the grader exited with status 3 without returning a score",
        ),
    ],
    ids=[
        "raises",
        "raises in a helper",
        "raises at import",
        "sys.exit",
        "a string",
        "a bool",
        "None",
        "inf",
        "a huge int",
        "no grade",
        "grade not a function",
        "syntax error",
        "null byte",
        "os._exit",
    ],
)
async def test_grader_mistakes_are_reported(source: str, message: str) -> None:
    outcome = await run(source)
    assert (outcome.score, outcome.error) == (None, message)


async def test_ints_and_numeric_types_are_scores() -> None:
    outcome = await run(
        "from fractions import Fraction\ndef grade(s, i):\n    return Fraction(1, 4)\n"
    )
    assert outcome.score == 0.25
    outcome = await run("def grade(s, i):\n    return 1\n")
    assert outcome.score == 1.0
    assert isinstance(outcome.score, float)


async def test_bad_graders_running_alongside_good_ones_leave_the_good_ones_alone(
    tmp_path: Path,
) -> None:
    bad = [
        grader("while True:\n    pass"),
        grader("hoard = bytearray(2 * 1024**3)"),
        grader("import os\nos.system('true')"),
        grader(f"open({str(tmp_path / 'x')!r}, 'w')"),
        grader("import socket"),
    ]
    outcomes = await asyncio.gather(*(run(source) for source in [GOOD, *bad, GOOD, GOOD]))
    assert [outcome.score for outcome in outcomes] == [0.5, None, None, None, None, None, 0.5, 0.5]
    assert all(outcome.error for outcome in outcomes[1:6])
    await assert_still_grading()


async def test_the_working_directory_is_removed_afterwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    source = (
        "import os\n"
        "def grade(sample, item):\n"
        "    os.makedirs('a/b')\n"
        "    open('a/b/left.txt', 'w').write('x')\n"
        "    os.chmod('a', 0)  # cleanup must cope with this\n"
        f"    return float(os.getcwd().startswith({str(tmp_path)!r}))\n"
    )
    outcome = await run(source)
    assert (outcome.score, outcome.error) == (1.0, None)
    assert os.listdir(tmp_path) == []


def test_check_source_accepts_a_grade_function() -> None:
    check_source(GOOD, "graders.source")
    check_source("def grade(sample, item, extra=1):\n    return 1\n", "source")
    check_source("def grade(*args):\n    return 1\n", "source")
    check_source("def grade(sample, /, item):\n    return 1\n", "source")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def grade(sample, item)\n    return 1\n", "the source has a syntax error at line 1"),
        (
            "x = 1\n\ndef grade(sample, item):\n  return (\n",
            "the source has a syntax error at line 4",
        ),
        (
            "def grader(sample, item):\n    return 1\n",
            "the source does not define grade(sample, item)",
        ),
        ("class A:\n    def grade(self, s, i):\n        return 1\n", "does not define grade"),
        ("def grade(sample):\n    return 1\n", "grade must take two arguments"),
        ("def grade(a, b, c):\n    return 1\n", "grade must take two arguments"),
        ("def grade(a, b, *, c):\n    return 1\n", "grade must take two arguments"),
        ("async def grade(sample, item):\n    return 1\n", "must be a plain function"),
        ("x = '\0'\n", "the source cannot be compiled"),
        ("#" * (256 * 1024 + 1), "the source is longer than 256 KiB"),
    ],
)
def test_check_source_rejects_bad_sources(source: str, message: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        check_source(source, "graders.source")
    assert message in caught.value.message
    assert caught.value.param == "graders.source"


def test_check_source_never_runs_the_source(tmp_path: Path) -> None:
    target = tmp_path / "ran.txt"
    check_source(f"open({str(target)!r}, 'w')\ndef grade(sample, item):\n    return 1\n", "source")
    assert not target.exists()
