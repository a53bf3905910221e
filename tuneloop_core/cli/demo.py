"""`tuneloop demo`: the main job on the embedded default.

Today it brings the stack up, checks every component, creates an API key and calls the
OpenAI-compatible API with it. The full loop (datagen → fine-tune → evaluate → export)
joins here as its services land.
"""

from __future__ import annotations

import httpx
from rich.console import Console

from tuneloop_core.cli.supervisor import RunFiles
from tuneloop_core.registry.db import Database
from tuneloop_core.registry.store import Registry
from tuneloop_core.settings import CommonSettings

DEMO_TENANT = "demo"


def run_demo(out: Console, err: Console) -> int:
    """Assumes the stack is up (the caller starts it); returns the exit code."""
    common = CommonSettings()
    url = str(RunFiles(common.data_dir).read_state().get("gateway_url") or common.gateway_url)
    db = Database(common.database_url)
    try:
        key, _ = Registry(db).create_api_key(DEMO_TENANT, "tuneloop demo")
    finally:
        db.close()
    with httpx.Client(base_url=url, timeout=30) as http:
        ready = http.get("/readyz")
        checks = ready.json().get("checks", {})
        for name, ok in checks.items():
            err.print(f"  {'[green]✓[/green]' if ok else '[red]✗[/red]'} {name}")
        if ready.status_code != 200:
            err.print(f"[red]not ready:[/red] {ready.json()['error']['message']}")
            return 1
        models = http.get("/v1/models", headers={"Authorization": f"Bearer {key}"})
        models.raise_for_status()
    names = [m["id"] for m in models.json()["data"]]
    out.print(f"Gateway:  {url}  (OpenAI base URL {url}/v1)", soft_wrap=True)
    out.print(f"API key:  {key}  (tenant '{DEMO_TENANT}')", soft_wrap=True)
    out.print(f"Models:   {', '.join(names) if names else 'none served yet'}")
    out.print(
        'Try it:   python -c "import openai; print(openai.OpenAI('
        f"base_url='{url}/v1', api_key='{key}').models.list())\"",
        soft_wrap=True,
    )
    return 0
