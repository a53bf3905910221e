"""The CLI's client of the public API: the same HTTP calls a user makes, plus waiting for a
job with its events shown as they arrive."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from tuneloop_cli.progress import ProgressLines

# A job ends in one of these; an eval run (OpenAI's shape) says "completed" / "canceled".
SUCCEEDED = frozenset({"succeeded", "completed"})
FINISHED = SUCCEEDED | {"failed", "cancelled", "canceled"}


class ApiError(Exception):
    """A call the gateway refused (its envelope's message), or a job that did not succeed."""


class Api:
    """A thin, synchronous client of the gateway for one API key."""

    def __init__(self, base_url: str, key: str, timeout_s: float = 600.0):
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {key}"},
            timeout=timeout_s,
        )

    def close(self) -> None:
        self.http.close()

    def _check(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:500]
            raise ApiError(f"{response.request.method} {response.request.url.path}: {message}")
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        return self._check(self.http.get(path, params=params or None))

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._check(self.http.post(path, json=body or {}))

    def upload(self, path: Path, purpose: str) -> str:
        """Upload a file; returns its id."""
        with path.open("rb") as handle:
            reply = self._check(
                self.http.post(
                    "/v1/files", data={"purpose": purpose}, files={"file": (path.name, handle)}
                )
            )
        return str(reply["id"])

    def wait_job(
        self,
        path: str,
        err: Console,
        title: str,
        poll_s: float = 2.0,
        timeout_s: float = 3600.0,
    ) -> dict[str, Any]:
        """Poll a job of any kind (`path` = e.g. /v1/datagen/jobs/<id>) until it finishes,
        showing its progress events as a bar (as plain lines, each the event's own message
        such as "evaluation: answers 12/68 for epoch 2", where stderr is no terminal) and
        its other events as lines."""
        after: str | None = None
        deadline = time.monotonic() + timeout_s
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
        )
        # A live bar draws nothing where stderr is not a terminal: plain lines there.
        lines = None if err.is_terminal else ProgressLines(err)
        with Progress(*columns, console=err, transient=True) as bar:
            task = bar.add_task(title, total=None)
            while True:
                params = {"limit": 100, **({"after": after} if after else {})}
                page = self.get(f"{path}/events", **params)
                for event in page["data"]:
                    after = event["id"]
                    data = event.get("data") or {}
                    if event["type"] == "progress" and data.get("total"):
                        stage, done, total = (
                            f"{title}: {data.get('stage', '')}",
                            int(data.get("done", 0)),
                            int(data["total"]),
                        )
                        bar.update(task, description=stage, completed=done, total=total)
                        if lines is not None:
                            shown = f"{title}: {event['message']}" if event["message"] else ""
                            lines.show(stage, done, total, shown)
                    elif event["message"]:
                        err.print(f"  {event['message']}", soft_wrap=True, markup=False)
                if page["has_more"]:
                    continue
                job: dict[str, Any] = self.get(path)
                if job["status"] in FINISHED:
                    break
                if time.monotonic() > deadline:
                    raise ApiError(f"{title} did not finish in {timeout_s:.0f} s")
                time.sleep(poll_s)
        if job["status"] not in SUCCEEDED:
            error = (job.get("error") or {}).get("message", "no error message")
            raise ApiError(f"{title} ended {job['status']}: {error}")
        return job
