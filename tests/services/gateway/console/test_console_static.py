"""The console is served at `/` without shadowing the API, its docs or health checks."""

from __future__ import annotations

import re
from typing import get_args

from services.gateway.console.router import STATIC_DIR
from services.gateway.evals.protocol import OutputItemObject, RunObject
from support.gateway import Gateway, assert_envelope


async def test_page_and_assets_are_served_without_a_key(gateway: Gateway) -> None:
    page = await gateway.http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="(/console/[^"]+)"', page.text)
    assert "/console/app.js" in assets and "/console/style.css" in assets
    for asset in assets:
        response = await gateway.http.get(asset)
        assert response.status_code == 200, asset
    script = await gateway.http.get("/console/pages/train.js")
    assert "javascript" in script.headers["content-type"]


async def test_every_module_import_resolves_to_a_file() -> None:
    """A typo in an import path would only show as a blank page in a browser."""
    for module in STATIC_DIR.rglob("*.js"):
        for target in re.findall(r'from "(\.[^"]+)"|import\("(\.[^"]+)"\)', module.read_text()):
            relative = next(part for part in target if part)
            assert (module.parent / relative).resolve().is_file(), f"{module}: {relative}"


async def test_the_api_keeps_its_own_answers(gateway: Gateway) -> None:
    assert (await gateway.http.get("/healthz")).json() == {"status": "ok"}
    assert (await gateway.http.get("/openapi.json")).status_code == 200
    assert (await gateway.http.get("/docs")).status_code == 200
    assert_envelope(await gateway.http.get("/v1/models"), 401, "missing_api_key")
    assert_envelope(await gateway.http.get("/v1/nope", headers=gateway.auth()), 404, "not_found")
    assert_envelope(await gateway.http.get("/console/missing.js"), 404, "not_found")
    assert_envelope(await gateway.http.post("/"), 405, "method_not_allowed")
    paths = (await gateway.http.get("/openapi.json")).json()["paths"]
    assert "/" not in paths  # the console is no part of the API's contract


def dictionary_keys(source: str, name: str) -> set[str]:
    """The keys of `const <name> = {…};` in i18n.js (one `key: "text",` a line)."""
    body = re.search(rf"^const {name} = \{{\n(.*?)^\}};", source, re.M | re.S)
    assert body is not None, name
    return set(re.findall(r'^\s*"?([\w.-]+)"?:', body[1], re.M))


async def test_every_label_the_pages_use_is_in_both_languages() -> None:
    """A missing key shows as the bare key (or as English on a zh-TW page); this finds it
    without a browser. Status labels are looked up by the API's own status values."""
    source = (STATIC_DIR / "i18n.js").read_text()
    en, zh = dictionary_keys(source, "en"), dictionary_keys(source, "zhTW")
    assert en - zh == set() and zh - en == set()
    used = {
        key
        for module in STATIC_DIR.rglob("*.js")
        for key in re.findall(r'\bt\("([\w.-]+)"', module.read_text())
    }
    assert used - en == set()
    statuses = get_args(RunObject.model_fields["status"].annotation) + get_args(
        OutputItemObject.model_fields["status"].annotation
    )
    assert {f"status.{s}" for s in statuses} - en == set()
    assert {"evals.stage.sampling", "evals.stage.grading"} <= en  # the run's progress stages
    # Why a preference file left votes out, as the gateway counts them (from_votes).
    left_out = {"no_votes", "ties", "identical_answers", "empty_answers"}
    assert {f"compare.leftOut.{reason}" for reason in left_out} <= en
    # The export's rungs table (compare.js exportChoice) builds its header keys.
    rung_columns = ("type", "size", "lost", "identical", "budget")
    assert {f"compare.rung.{column}" for column in rung_columns} <= en
