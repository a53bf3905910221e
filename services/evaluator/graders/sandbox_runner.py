"""The child side of the python grader's sandbox: run as a script by `sandbox.run_python`
(`python -I -B -X utf8 sandbox_runner.py`), never imported. Standard library only.

Reads {"source", "sample", "item", "cpu_s", "memory_mb", "file_mb"} as JSON on stdin,
writes {"score": float} or {"error": str} as JSON on stdout, in this order:

1. a new user and network namespace where the kernel allows it (no interfaces: no network);
2. resource limits: CPU seconds, address space, file size, no core files, no processes;
3. stdout moved to a private descriptor, so the grader's prints go to stderr;
4. an audit hook that refuses network, commands, native code, `gc` introspection and
   writes outside the working directory (a fresh temporary directory) — installed before
   the user's source is compiled, and impossible to remove;
5. compile, run, call `grade(sample, item)`, check the result is a finite number.

The hook is defence in depth, not a boundary by itself: the separate process, its limits
and the parent's wall-clock kill are what keep the worker alive.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import resource
import signal
import subprocess
import sys
from types import MappingProxyType, TracebackType
from typing import Any, NoReturn

SOURCE_NAME = "<grader>"
MAX_MESSAGE = 500  # characters of an error message
MAX_REPR = 80  # characters of a returned value quoted in a message
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
OPEN_FILES = 64
CTYPES = frozenset({"ctypes", "_ctypes"})

BLOCKED_IMPORTS = frozenset(
    {
        "ctypes",
        "_ctypes",
        "socket",
        "_socket",
        "ssl",
        "_ssl",
        "multiprocessing",
        "_multiprocessing",
        "_posixsubprocess",  # already loaded below; a second copy would be a way to exec
        "_posixshmem",
    }
)
COMMAND_EVENTS = frozenset(
    {
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
        "os.forkpty",
        "os.startfile",
        "subprocess.Popen",
        "pty.spawn",
    }
)
INTROSPECTION_EVENTS = frozenset({"gc.get_objects", "gc.get_referrers", "gc.get_referents"})
# event → positions of the path arguments that must lie inside the working directory
PATH_EVENTS = {
    "os.chmod": (0,),
    "os.chown": (0,),
    "os.chflags": (0,),
    "os.lchflags": (0,),
    "os.lchown": (0,),
    "os.mkdir": (0,),
    "os.mkfifo": (0,),
    "os.mknod": (0,),
    "os.remove": (0,),
    "os.rmdir": (0,),
    "os.rename": (0, 1),
    "os.link": (0, 1),  # a hard link to an outside file would make it writable
    "os.symlink": (1,),
    "os.truncate": (0,),
    "os.utime": (0,),
    "os.setxattr": (0,),
    "os.removexattr": (0,),
    "shutil.copyfile": (1,),
    "shutil.copymode": (1,),
    "shutil.copystat": (1,),
    "shutil.copytree": (1,),
    "shutil.move": (0, 1),
    "shutil.rmtree": (0,),
    "shutil.chown": (0,),
    "shutil.make_archive": (0,),
    "shutil.unpack_archive": (1,),
}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
# Every refusal, in order. A grader that catches one has still failed: the first decides.
VIOLATIONS: list[str] = []


class SandboxViolation(PermissionError):
    """Something the sandbox refuses; the first one decides the outcome."""


class SandboxImportError(ImportError):
    """An import the sandbox refuses (a library may catch it and do without)."""


def main() -> NoReturn:
    request = json.loads(sys.stdin.buffer.read())
    memory_error = {"error": f"the grader used more than {request['memory_mb']} MiB of memory"}
    result_fd = _isolate(request)
    try:
        outcome = _grade(request)
    except MemoryError:
        outcome = memory_error
    try:
        data = json.dumps(outcome).encode()
    except MemoryError:
        data = json.dumps(memory_error).encode()
    os.write(result_fd, data)
    # Skip atexit handlers and finalizers the grader may have registered.
    os._exit(0)


def _isolate(request: dict[str, Any]) -> int:
    _unshare_network()
    cpu_s = max(1, math.ceil(request["cpu_s"]))
    memory = request["memory_mb"] * 1024 * 1024
    file_size = request["file_mb"] * 1024 * 1024
    # SIGXCPU at the soft limit kills the process; the hard limit (SIGKILL) catches a
    # grader that ignores it. The parent reads either as "too much CPU time".
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))
    # No new processes for an unprivileged user (root is exempt: the audit hook covers it).
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write raises OSError instead
    # The result goes to a private copy of stdout; fd 1 becomes stderr for print().
    result_fd = os.dup(1)
    os.dup2(2, 1)
    _disarm_fork_exec()
    _install_audit_hook(os.path.realpath(os.getcwd()))
    return result_fd


def _unshare_network() -> None:
    """A new network namespace has only a loopback device, and it is down: every connect
    fails. A new user namespace lets an unprivileged process create it."""
    flags = CLONE_NEWUSER | CLONE_NEWNET
    unshare = getattr(os, "unshare", None)  # Python 3.12+
    try:
        if unshare is not None:
            unshare(flags)
        else:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.unshare(flags)  # -1 where the kernel refuses: the audit hook still applies
    except OSError:
        pass
    finally:
        # Forget ctypes; a fresh import is refused by the audit hook from here on.
        for name in [name for name in sys.modules if name.split(".")[0] in CTYPES]:
            del sys.modules[name]


def _disarm_fork_exec() -> None:
    """`subprocess` is loaded before the hook so graders may import it (its Popen is then
    refused by the hook), but the C function under it raises no audit event of its own."""

    violations, violation = VIOLATIONS, SandboxViolation

    def fork_exec(*args: object, **kwargs: object) -> NoReturn:
        message = "the grader tried to run a command (_posixsubprocess.fork_exec)"
        violations.append(message)
        raise violation(message)

    import _posixsubprocess

    _posixsubprocess.fork_exec = fork_exec
    subprocess._fork_exec = fork_exec  # type: ignore[attr-defined]


def _install_audit_hook(workdir: str) -> None:
    """Refuse what a grader must not do. Everything the hook reads is bound here, so a
    grader that rebinds this module's globals or `os.path.realpath` changes nothing."""
    own_pid = os.getpid()
    inside_prefix = workdir + os.sep
    devnull = os.devnull
    blocked_imports = BLOCKED_IMPORTS
    command_events = COMMAND_EVENTS
    introspection_events = INTROSPECTION_EVENTS
    path_events = MappingProxyType(dict(PATH_EVENTS))
    write_flags = WRITE_FLAGS
    violations = VIOLATIONS
    violation, import_error = SandboxViolation, SandboxImportError
    realpath, fsdecode, isdir, basename = (
        os.path.realpath,
        os.fsdecode,
        os.path.isdir,
        os.path.basename,
    )
    busy: list[bool] = []  # the hook's own file-system calls must not re-enter it

    def resolved(path: Any) -> str:
        return realpath(fsdecode(path))

    def inside(path: object) -> bool:
        if isinstance(path, int):  # an open descriptor: checked when it was opened
            return True
        real = resolved(path)
        return real in (workdir, devnull) or real.startswith(inside_prefix)

    def refuse(message: str) -> NoReturn:
        violations.append(message)
        raise violation(message)

    def check_import(name: str, filename: str) -> None:
        # The last part too: a C extension loaded by hand as "x._posixsubprocess".
        parts = name.split(".")
        if {parts[0], parts[-1], basename(filename).split(".")[0]} & blocked_imports:
            raise import_error(f"the grader imports {name}, which the sandbox does not allow")

    def check_open(path: Any, mode: Any, flags: Any) -> None:
        if path is None or isinstance(path, int):
            return
        real = resolved(path)
        writing = (isinstance(mode, str) and any(ch in mode for ch in "wax+")) or (
            isinstance(flags, int) and flags & write_flags
        )
        if writing and not inside(path):
            refuse(f"the grader tried to write outside its working directory: {real}")
        parts = real.split("/")
        # /proc/<pid>/ of another process: the worker's environment, its memory.
        if (
            len(parts) > 2
            and parts[1] == "proc"
            and parts[2].isdigit()
            and int(parts[2]) != own_pid
        ):
            refuse(f"the grader tried to read another process's files: {real}")
        # os.open() of an outside directory would give a dir_fd to write through.
        if mode is None and not inside(path) and isdir(real):
            refuse(f"the grader tried to open a directory outside its working directory: {real}")

    def check(event: str, args: tuple[Any, ...]) -> None:
        if event == "import":
            check_import(str(args[0]), str(args[1] or ""))
        elif event == "open":
            check_open(*args[:3])
        elif event.startswith("socket."):
            refuse(f"the grader tried to open a network connection ({event})")
        elif event.startswith("ctypes."):
            refuse(f"the grader tried to call native code ({event})")
        elif event in command_events:
            refuse(f"the grader tried to run a command ({event})")
        elif event in introspection_events:
            refuse(f"the grader used {event}, which the sandbox does not allow")
        elif event in ("os.kill", "os.killpg") and args[0] not in (own_pid, 0):
            refuse(f"the grader tried to signal another process ({event})")
        elif event in path_events:
            for index in path_events[event]:
                if index < len(args) and not inside(args[index]):
                    refuse(
                        "the grader tried to write outside its working directory: "
                        f"{resolved(args[index])} ({event})"
                    )

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if busy:
            return
        busy.append(True)
        try:
            check(event, args)
        finally:
            busy.clear()

    sys.addaudithook(hook)


def _grade(request: dict[str, Any]) -> dict[str, Any]:
    try:
        code = compile(request["source"], SOURCE_NAME, "exec")
    except SyntaxError as error:  # worded as jobspecs.python_source.syntax_error_message
        if error.lineno is None:
            return {"error": f"the source cannot be compiled: {error.msg}"}
        return {"error": f"the source has a syntax error at line {error.lineno}: {error.msg}"}
    except ValueError as error:  # null bytes
        return {"error": f"the source cannot be compiled: {error}"}
    namespace: dict[str, Any] = {"__name__": "grader", "__builtins__": __builtins__}
    try:
        exec(code, namespace)
    except MemoryError:
        raise
    except BaseException as error:
        return {"error": _raised("the source", error)}
    grade = namespace.get("grade")
    if not callable(grade):
        return {"error": "the source does not define grade(sample, item)"}
    try:
        score = grade(request["sample"], request["item"])
    except MemoryError:
        raise
    except BaseException as error:
        return {"error": _raised("grade()", error)}
    if VIOLATIONS:  # the grader caught the refusal and went on: it still failed
        return {"error": VIOLATIONS[0]}
    return _checked_score(score)


def _raised(where: str, error: BaseException) -> str:
    if VIOLATIONS:
        return VIOLATIONS[0]
    if isinstance(error, SandboxViolation | SandboxImportError):
        return str(error)
    line = _last_source_line(error.__traceback__)
    at = f" at line {line}" if line is not None else ""
    message = f"{where} raised {type(error).__name__}: {error}"[:MAX_MESSAGE]
    return f"{message}{at}"


def _last_source_line(traceback: TracebackType | None) -> int | None:
    line = None
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == SOURCE_NAME:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def _checked_score(score: object) -> dict[str, Any]:
    if isinstance(score, bool) or not isinstance(score, numbers.Real):
        shown = repr(score)
        if len(shown) > MAX_REPR:
            shown = shown[: MAX_REPR - 3] + "..."
        return {"error": f"grade() returned {shown}, not a number"}
    try:
        value = float(score)
    except (OverflowError, ValueError, TypeError):
        return {"error": "grade() returned a number that is not a finite float"}
    if not math.isfinite(value):
        return {"error": f"grade() returned {value}, not a finite number"}
    return {"score": value}


if __name__ == "__main__":
    main()
