"""A small Ollama server for tests: the documented blob and create endpoints, strictly.

No real Ollama can run here, so this implements the part of its REST API an export uses
(https://github.com/ollama/ollama/blob/main/docs/api.md): `HEAD`/`POST /api/blobs/<digest>`
(the body's SHA-256 must equal the digest), `POST /api/create` (`model`, `files` naming
uploaded blobs, `template`, `system`, `parameters`; NDJSON progress when `stream`) and
`GET /api/tags`. It rejects what Ollama would reject, and records what it was sent.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
PARAMETER_TYPES: dict[str, type | tuple[type, ...]] = {
    "stop": list,
    "temperature": (int, float),
    "top_p": (int, float),
    "num_ctx": int,
}


@dataclass
class OllamaState:
    blobs: dict[str, bytes] = field(default_factory=dict)
    created: dict[str, dict[str, Any]] = field(default_factory=dict)  # name → create body


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def _body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while size := int(self.rfile.readline().split(b";")[0].strip(), 16):
                data += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
            return data
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _reply(self, status: int, body: dict[str, Any] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _blob_digest(self) -> str | None:
        digest = self.path.removeprefix("/api/blobs/")
        return digest if self.path.startswith("/api/blobs/") and DIGEST.fullmatch(digest) else None

    def do_HEAD(self) -> None:
        digest = self._blob_digest()
        self._reply(200 if digest in self.server.state.blobs else 404)

    def do_GET(self) -> None:
        if self.path != "/api/tags":
            return self._reply(404, {"error": "not found"})
        models = [
            {"model": name, "digest": hashlib.sha256(name.encode()).hexdigest(), "size": 1}
            for name in self.server.state.created
        ]
        self._reply(200, {"models": models})

    def do_POST(self) -> None:
        body = self._body()
        if self.path.startswith("/api/blobs/"):
            digest = self._blob_digest()
            if digest is None:
                return self._reply(400, {"error": "invalid digest format"})
            if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
                return self._reply(400, {"error": "digest mismatch"})
            self.server.state.blobs[digest] = body
            return self._reply(201)
        if self.path == "/api/create":
            return self._create(json.loads(body))
        self._reply(404, {"error": "not found"})

    def _create(self, request: dict[str, Any]) -> None:
        problem = self._check_create(request)
        if problem:
            return self._reply(400, {"error": problem})
        name = str(request["model"])
        self.server.state.created[name if ":" in name else f"{name}:latest"] = request
        steps = ["parsing GGUF", *[f"using existing layer {d}" for d in request["files"].values()]]
        steps += ["writing manifest", "success"]
        if not request.get("stream", True):
            return self._reply(200, {"status": "success"})
        lines = b"".join(json.dumps({"status": s}).encode() + b"\n" for s in steps)
        self.send_response(200)
        self.send_header("content-type", "application/x-ndjson")
        self.send_header("content-length", str(len(lines)))
        self.end_headers()
        self.wfile.write(lines)

    def _check_create(self, request: dict[str, Any]) -> str | None:
        if not isinstance(request.get("model"), str) or not request["model"]:
            return "model is required"
        files = request.get("files")
        if not isinstance(files, dict) or not files:
            return "neither 'from' or 'files' was specified"
        for filename, digest in files.items():
            blob = self.server.state.blobs.get(digest)
            if blob is None:
                return f"blob {digest} for {filename} not found: upload it first"
            if not blob.startswith(b"GGUF"):
                return f"{filename} is not a GGUF file"
        for key in ("template", "system"):
            if key in request and not isinstance(request[key], str):
                return f"{key} must be a string"
        for key, value in (request.get("parameters") or {}).items():
            expected = PARAMETER_TYPES.get(key)
            if expected is None or not isinstance(value, expected):
                return f"invalid parameter {key}={value!r}"
        return None


class _Server(ThreadingHTTPServer):
    state: OllamaState


@contextmanager
def fake_ollama() -> Iterator[tuple[str, OllamaState]]:
    """(base URL, what the server received) for the life of the block."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = OllamaState()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.state
    finally:
        server.shutdown()
        server.server_close()
