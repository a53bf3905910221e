"""`tuneloop`: run the stack on this machine and manage it.

    tuneloop up [--detach]          start NATS and the five services, print the gateway URL
    tuneloop down                   stop a running `tuneloop up`
    tuneloop status                 health of every component
    tuneloop demo [--keep]          run the main job on the embedded stack
    tuneloop keys create --tenant N print a new API key (the only time it is shown)
    tuneloop models pull NAME       install a known base model (smollm2-135m) offline
    tuneloop models add NAME SOURCE register a local model directory or a hub id
    tuneloop models remove NAME     delete an installed base model (the stack unloads it)
    tuneloop models list            base models on this machine
    tuneloop models add-adapter NAME PATH --base BASE
                                    serve a LoRA adapter trained elsewhere (through the API)

The data directory is $TUNELOOP_DATA_DIR (default ~/.local/share/tuneloop).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from rich.console import Console

from tuneloop_cli import adapters, commands, demo, models
from tuneloop_core.logs import configure_logging
from tuneloop_core.settings import CommonSettings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tuneloop", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start the whole stack on this machine")
    up.add_argument("--detach", action="store_true", help="return once healthy; stop with down")
    up.add_argument("--timeout", type=float, default=300.0, help="seconds to become healthy")

    down = sub.add_parser("down", help="stop a running `tuneloop up`")
    down.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for exit")

    sub.add_parser("status", help="health of every component")

    demo = sub.add_parser("demo", help="run the main job on the embedded stack")
    demo.add_argument("--keep", action="store_true", help="leave the stack running after")
    demo.add_argument(
        "--quick",
        action="store_true",
        help="only check the stack and ask the base model one question (not the whole loop)",
    )

    keys = sub.add_parser("keys", help="API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key and print it on stdout")
    create.add_argument("--tenant", required=True, help="tenant (organisation) name")
    create.add_argument("--name", default="", help="label to tell keys apart")

    models_parser = sub.add_parser("models", help="base models")
    models_sub = models_parser.add_subparsers(dest="models_command", required=True)
    pull = models_sub.add_parser("pull", help="install a known base model; print its directory")
    pull.add_argument("name", help="e.g. smollm2-135m")
    pull.add_argument("--force", action="store_true", help="convert again even if present")
    pull.add_argument(
        "--dtype", choices=["float32", "bfloat16"], default="float32", help="saved weights dtype"
    )
    add = models_sub.add_parser("add", help="register a local model directory or a hub id")
    add.add_argument("name", help="name to serve it under (a-z 0-9 . _ -)")
    add.add_argument("source", help="a Hugging Face model directory, or a hub id org/name")
    remove = models_sub.add_parser("remove", help="delete a base model; the stack unloads it")
    remove.add_argument("name", help="an installed base model (see `tuneloop models list`)")
    remove.add_argument("--yes", "-y", action="store_true", help="do not ask to confirm")
    models_sub.add_parser("list", help="base models on this machine")
    add_adapter = models_sub.add_parser(
        "add-adapter", help="serve a LoRA adapter trained elsewhere (PEFT folder or archive)"
    )
    add_adapter.add_argument("name", help="model name to serve it under")
    add_adapter.add_argument("path", type=Path, help="a PEFT adapter folder, .tar.gz or .zip")
    add_adapter.add_argument("--base", required=True, help="the served base model it was tuned on")
    add_adapter.add_argument("--url", default=None, help="gateway URL (default: this stack's)")
    add_adapter.add_argument(
        "--key", default=os.environ.get("TUNELOOP_API_KEY"), help="API key (TUNELOOP_API_KEY)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging("tuneloop", "INFO", json_lines=False)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    out = Console()  # results (URLs, keys) on stdout
    err = Console(stderr=True)  # progress and messages on stderr
    try:
        if args.command == "up":
            return commands.up(args.detach, args.timeout, out, err)
        if args.command == "down":
            return commands.down(args.timeout, err)
        if args.command == "status":
            return commands.status(out)
        if args.command == "demo":
            return demo.demo(args.keep, out, err, full=not args.quick)
        if args.command == "models":
            return _models(args, out, err)
        return commands.create_key(args.tenant, args.name, out, err)
    except commands.CliError as exc:
        err.print(f"[red]error:[/red] {exc}")
        return 2


def _models(args: argparse.Namespace, out: Console, err: Console) -> int:
    if args.models_command == "pull":
        return models.pull(args.name, args.force, args.dtype, out, err)
    if args.models_command == "add":
        return models.add(args.name, args.source, out, err)
    if args.models_command == "add-adapter":
        url = args.url or CommonSettings().gateway_url
        return adapters.add_adapter(args.name, args.path, args.base, url, args.key, out, err)
    if args.models_command == "remove":
        return models.remove(args.name, args.yes, out, err)
    return models.list_models(out, err)


if __name__ == "__main__":
    sys.exit(main())
