"""The web console in headless Chromium against a real in-process stack: log in with a
key, upload a dataset, train a tiny model and watch its curve, compare the base with a
checkpoint side by side, vote, download the CSV, start an export; every page gets a
screenshot and an accessibility check."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
import pytest_asyncio

from support.browser import chromium, requires_chromium, screenshot
from support.fake_teacher import as_json, fake_teacher
from support.stack import TINY, ApiStack, api_stack

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow, requires_chromium]
with contextlib.suppress(ImportError):  # else skipped: requires_chromium says why
    from playwright.async_api import Page, expect

FACTS = [
    ("函是什麼？", "函是機關之間往來的公文。"),
    ("公告給誰看？", "公告是對公眾宣布事項。"),
    ("What is 速別?", "速別 says how urgent a document is."),
    ("簽由誰寫？", "簽由承辦人寫給長官。"),
]
QUESTIONS = ["函是什麼？", "What is 速別?"]
PAGES = ["data", "train", "evaluate", "compare", "models", "knowledge"]

# Every form control has a label (its own <label>, or aria-label where a visible label
# would repeat the column header); everything clickable is a <button> or an <a href>.
A11Y_PROBLEMS = """() => {
  const problems = [];
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (!(el.labels && el.labels.length) && !el.getAttribute("aria-label"))
      problems.push(`unlabelled ${el.tagName} ${el.outerHTML.slice(0, 80)}`);
  }
  for (const el of document.querySelectorAll("a:not([href]), [onclick], [role=button]:not(button)"))
    problems.push(`not a button or link: ${el.outerHTML.slice(0, 80)}`);
  for (const el of document.querySelectorAll("button")) {
    if (!(el.textContent.trim() || el.getAttribute("aria-label")))
      problems.push(`button without a name: ${el.outerHTML.slice(0, 80)}`);
  }
  return problems;
}"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiStack]:
    root = tmp_path_factory.mktemp("console")
    async with api_stack(root, trainer=True, evaluator=True, datagen=True) as running_stack:
        yield running_stack


@pytest_asyncio.fixture(loop_scope="module")
async def page(stack: ApiStack) -> AsyncIterator[Page]:
    async with chromium() as browser:
        context = await browser.new_context(
            locale="en-US", accept_downloads=True, viewport={"width": 1280, "height": 900}
        )
        tab = await context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        yield tab
        await context.close()
        assert not errors, f"uncaught errors in the page: {errors}"


async def log_in(page: Page, stack: ApiStack, key: str) -> None:
    """By keyboard only: the key field has focus, Enter submits."""
    await page.goto(f"{stack.url}/")
    await expect(page.get_by_label("API key")).to_be_focused()
    await page.keyboard.type(key)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("link", name="Train")).to_be_visible()


async def visit(page: Page, name: str) -> None:
    await page.evaluate(f"location.hash = '#/{name}'")
    await expect(page.locator(f'.page[data-page="{name}"]')).to_be_attached()
    await page.wait_for_load_state("networkidle")


async def check_accessibility(page: Page) -> None:
    assert await page.evaluate(A11Y_PROBLEMS) == []


async def test_a_bad_key_shows_the_api_message(page: Page, stack: ApiStack) -> None:
    await page.goto(f"{stack.url}/")
    await page.get_by_label("API key").fill("tl-not-a-key")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_contain_text("API key")
    await check_accessibility(page)


async def test_train_compare_vote_export(
    page: Page, stack: ApiStack, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    shots = tmp_path / "screenshots"
    key = stack.key("console")
    await log_in(page, stack, key)
    assert await page.evaluate("sessionStorage.getItem('tuneloop.key')") == key

    # Data: upload a small dataset (and a validation set); the validation report shows
    # (or, where the API has no validation yet, its own error message).
    await visit(page, "data")
    for name, facts in [("facts.jsonl", FACTS), ("held-out.jsonl", FACTS[:2])]:
        await asyncio.to_thread(write_jsonl, tmp_path / name, facts)
        await page.get_by_label("Files", exact=True).set_input_files(tmp_path / name)
        await page.get_by_role("button", name="Upload", exact=True).click()
        await expect(page.get_by_text(f"Uploaded: {name}")).to_be_visible()
        await expect(page.get_by_test_id("validation")).to_contain_text(name)
        await expect(page.get_by_test_id("validation")).not_to_contain_text("Validating…")
    await check_accessibility(page)
    await screenshot(page, shots, "1-data")

    # Train: defaults plus two epochs (advanced settings), then watch the curves grow.
    async with httpx.AsyncClient(base_url=f"{stack.url}/v1", headers=auth(key)) as api:
        files = {f["filename"]: f["id"] for f in (await api.get("/files")).json()["data"]}
    await page.evaluate(f"location.hash = '#/train?dataset={files['facts.jsonl']}'")
    await page.get_by_text("Advanced settings").click()
    await page.get_by_label("Validation file").select_option(files["held-out.jsonl"])
    await page.get_by_label("Epochs", exact=True).fill("2")
    await page.get_by_label("Batch size").fill("2")
    await page.get_by_label("Learning-rate multiplier").fill("10")
    await page.get_by_role("button", name="Start training").click()
    await expect(page).to_have_url(re.compile(r"#/train\?job=ftjob-"))
    chart = page.get_by_test_id("loss-chart")
    seen: set[str] = set()
    verdict = page.get_by_test_id("verdict")
    for _ in range(600):
        points = await chart.get_attribute("data-points") if await chart.count() else None
        if points is not None:
            seen.add(points)
        if await verdict.count():
            break
        await page.wait_for_timeout(200)
    await expect(verdict).to_contain_text("Best checkpoint", timeout=120_000)
    final_points = int(await chart.get_attribute("data-points") or 0)
    # The page first drew the job before it had trained (a smaller curve), then the final one;
    # how many polls fall in between depends on the machine's speed, so only the change counts.
    seen.add(str(final_points))
    assert final_points >= 2 and len(seen) >= 2, seen
    await expect(chart.locator("polyline").first).to_have_attribute(
        "points", re.compile(r"\d,[\d.]+ \d")
    )
    await check_accessibility(page)
    await screenshot(page, shots, "2-train")

    # Side by side: the verdict's button preselects the base and the best checkpoint.
    await verdict.get_by_role("button", name="Compare side by side").click()
    await expect(page).to_have_url(re.compile(r"#/compare\?models="))
    best = (await verdict_models(page))[1]
    await wait_until_served(stack, key, best)
    await page.get_by_label("Questions (one per line)").fill("\n".join(QUESTIONS))
    await page.get_by_label("Max tokens").fill("8")
    await page.get_by_role("button", name="Ask every model").click()
    await expect(page).to_have_url(re.compile(r"#/compare\?id="))
    answers = page.locator("article.answer")
    await expect(answers).to_have_count(2 * len(QUESTIONS), timeout=120_000)
    thumb = answers.first.get_by_role("button", name=re.compile("Thumbs-up"))
    await thumb.click()
    await expect(thumb).to_have_attribute("aria-pressed", "true")
    await expect(page.get_by_test_id("tallies")).to_contain_text(f"{TINY}: 1")
    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Download CSV").click()
    download = await download_info.value
    text = await asyncio.to_thread(Path(await download.path()).read_text, "utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [
        "question",
        f"{TINY} answer",
        f"{TINY} votes",
        f"{best} answer",
        f"{best} votes",
    ]
    assert [r[0] for r in rows[1:]] == QUESTIONS
    assert rows[1][2] == "1" and rows[1][4] == "0"
    await check_accessibility(page)
    await screenshot(page, shots, "4-compare")

    # Create workspace: an export job of the chosen model starts and shows its progress.
    await page.get_by_label("Model to export").select_option(best)
    await page.get_by_role("button", name="Create workspace").click()
    await expect(page.locator(".export-progress")).to_contain_text("export-", timeout=30_000)
    async with httpx.AsyncClient(base_url=f"{stack.url}/v1", headers=auth(key)) as api:
        exports = (await api.get("/exports")).json()["data"]
    assert [e["spec"]["model"] for e in exports] == [best]
    await screenshot(page, shots, "4-compare-workspace")

    # The other pages render (or show the API's own error) and pass the same checks.
    for name in ["evaluate", "models", "knowledge"]:
        await visit(page, name)
        await expect(page.locator("main h1")).to_be_visible()
        await check_accessibility(page)
        await screenshot(page, shots, f"{PAGES.index(name) + 1}-{name}")


async def verdict_models(page: Page) -> list[str]:
    models = re.search(r"models=([^&]+)", page.url)
    assert models is not None
    return unquote(models.group(1)).split(",")


async def wait_until_served(stack: ApiStack, key: str, model: str) -> None:
    async with httpx.AsyncClient(base_url=f"{stack.url}/v1", headers=auth(key)) as api:
        for _ in range(100):
            names = {m["id"] for m in (await api.get("/models")).json()["data"]}
            if model in names:
                return
            await asyncio.sleep(0.2)
    raise AssertionError(f"{model} never served")


def write_jsonl(path: Path, facts: list[tuple[str, str]]) -> None:
    rows = [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        for q, a in facts
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")


def answer_columns(model: str) -> list[str]:
    return [f"{model} answer", f"{model} votes"]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


DOCUMENT = "# 公文\n\n函是機關之間往復的公文。公告是對公眾宣布事項的公文。\n"
GENERATED = [
    {"question": "函是什麼樣的公文？", "answer": "函是機關之間往復的公文。"},
    {"question": "公告的用途是什麼？", "answer": "公告是對公眾宣布事項的公文。"},
]


def teacher(prompt: str, temperature: float) -> str:
    """Scores every pair 4; writes the two pairs above for the document."""
    return as_json(
        {"score": 4, "reason": "ok"} if prompt.startswith("請評分") else {"pairs": GENERATED}
    )


async def test_review_generated_pairs_and_build_a_dataset(
    page: Page, stack: ApiStack, tmp_path: Path
) -> None:
    key = stack.key("reviewer")
    async with httpx.AsyncClient(base_url=f"{stack.url}/v1", headers=auth(key)) as api:
        doc = await api.post(
            "/files", data={"purpose": "datagen"}, files={"file": ("公文.md", DOCUMENT.encode())}
        )
        with fake_teacher(teacher) as (url, _):
            body = {
                "file_ids": [doc.json()["id"]],
                "teacher": {"model": "t", "base_url": url},
                "mode": "free",
                "questions_per_chunk": 2,
                "eval_fraction": 0,
            }
            job = (await api.post("/datagen/jobs", json=body)).json()
            for _ in range(240):
                if (await api.get(f"/datagen/jobs/{job['id']}")).json()["status"] == "succeeded":
                    break
                await asyncio.sleep(0.25)
    await log_in(page, stack, key)
    await page.evaluate(f"location.hash = '#/data?datagen={job['id']}'")
    counts = page.get_by_test_id("review-counts")
    await expect(counts).to_have_text("2 pairs · 0 confirmed · 0 dropped · 0 edited")
    await check_accessibility(page)

    await page.get_by_label("Answer 1").fill("函是機關之間往復聯繫的公文。")
    await page.get_by_label("Answer 1").blur()  # a change is saved when the field is left
    await page.get_by_label("Confirmed").first.check()
    await page.get_by_label("Drop").nth(1).check()
    await expect(counts).to_have_text("2 pairs · 1 confirmed · 1 dropped · 1 edited")
    await screenshot(page, tmp_path / "screenshots", "1-data-review")

    await page.reload()  # nothing is lost: the API kept every change
    await expect(counts).to_have_text("2 pairs · 1 confirmed · 1 dropped · 1 edited")
    await expect(page.get_by_label("Answer 1")).to_have_value("函是機關之間往復聯繫的公文。")
    await page.get_by_label("Only confirmed pairs").check()
    await page.get_by_role("button", name="Use as training dataset").click()
    await expect(page).to_have_url(re.compile(r"#/train\?dataset=file-"))
    file_id = re.search(r"dataset=(file-[\w-]+)", page.url)[1]  # type: ignore[index]
    async with httpx.AsyncClient(base_url=f"{stack.url}/v1", headers=auth(key)) as api:
        content = (await api.get(f"/files/{file_id}/content")).json()
    question = GENERATED[0]["question"]
    assert content == [
        {"instruction": question, "input": "", "output": "函是機關之間往復聯繫的公文。"}
    ]


async def test_language_switch_and_dictionaries(page: Page, stack: ApiStack) -> None:
    await log_in(page, stack, stack.key("console"))
    await page.locator("#top").get_by_label("Language").select_option("zh-TW")
    await expect(page.get_by_role("link", name="訓練")).to_be_visible()
    await expect(page.locator("html")).to_have_attribute("lang", "zh-TW")
    missing = await page.evaluate(
        """async () => {
          const { DICTIONARIES } = await import('/console/i18n.js');
          const [en, zh] = [DICTIONARIES.en, DICTIONARIES['zh-TW']];
          return [...Object.keys(en).filter((k) => !(k in zh)),
                  ...Object.keys(zh).filter((k) => !(k in en))];
        }"""
    )
    assert missing == []
    await visit(page, "models")
    await expect(page.get_by_test_id("base-url")).to_have_text(f"{stack.url}/v1")
    await check_accessibility(page)
