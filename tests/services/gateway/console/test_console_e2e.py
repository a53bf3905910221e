"""The web console in headless Chromium against a real in-process stack: log in with a
key, upload a dataset, train a tiny model and watch its curve, compare the base with a
checkpoint side by side, vote, download the CSV, start an export, train on the votes (a DPO
job and its curve), follow an eval's runs (pass rates, live count, report, cancel); every
page gets a screenshot and an accessibility check."""

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
from support.tiny_model import build_tiny_adapter
from tuneloop.common.v1 import common_pb2
from tuneloop.events.v1 import events_pb2
from tuneloop_core import basemodels
from tuneloop_core.bus.publish import EventPublisher

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


# A fine-tuned model of tenant `voter` (a random LoRA adapter, so its answers differ from
# the base model's), announced as a training job would announce its checkpoint.
VOTED = f"ft:{TINY}:voter:votes:ftjob-voted:ckpt-1"


async def announce_adapter(stack: ApiStack, tenant: str, name: str) -> None:
    base = Path(basemodels.resolve(TINY, stack.common.data_dir).path)
    path = await asyncio.to_thread(
        build_tiny_adapter, base, stack.common.data_dir / "artifacts" / "ftjob-voted" / "c1"
    )
    assert stack.gateway.nats is not None
    events = EventPublisher(
        stack.gateway.nats.jetstream(), common_pb2.JOB_KIND_FINE_TUNE, "ftjob-voted"
    )
    await events.publish(
        "epoch 1 saved",
        checkpoint_saved=events_pb2.CheckpointSaved(
            checkpoint_id="ckpt-1",
            model_name=name,
            base_model=TINY,
            path=str(path.relative_to(stack.common.data_dir)),
            epoch=1,
            tenant_id=stack.registry.ensure_tenant(tenant).id,
        ),
    )
    await wait_until_served(stack, stack.key(tenant), name)


async def test_train_on_my_votes(page: Page, stack: ApiStack, tmp_path: Path) -> None:
    """Two thumbs-ups for a fine-tuned model's answers: "Train on my votes" writes a
    preference file of 2 pairs (the unvoted question left out, in words) and starts a DPO
    job that continues from that model; the page follows the job and links to it."""
    await announce_adapter(stack, "voter", VOTED)
    key = stack.key("voter")
    async with httpx.AsyncClient(base_url=f"{stack.url}/v1", headers=auth(key)) as api:
        body = {"models": [TINY, VOTED], "questions": [*QUESTIONS, "簽由誰寫？"], "max_tokens": 8}
        comparison_id = (await api.post("/comparisons", json=body)).json()["id"]
    await log_in(page, stack, key)
    await page.evaluate(f"location.hash = '#/compare?id={comparison_id}'")
    await expect(page.locator("article.answer")).to_have_count(6, timeout=120_000)
    train = page.get_by_role("button", name="Train on my votes")
    await expect(train).to_be_disabled()  # nothing to learn from before a vote
    thumbs = page.get_by_role("button", name=f"Thumbs-up for {VOTED}")
    for index in range(2):
        await thumbs.nth(index).click()
        await expect(thumbs.nth(index)).to_have_attribute("aria-pressed", "true")
    await expect(page.get_by_test_id("tallies")).to_contain_text(f"{VOTED}: 2")
    await train.click()

    summary = page.get_by_test_id("preference-summary")
    await expect(summary).to_contain_text("2 pairs; left out: questions nobody voted on (1).")
    await expect(summary).to_contain_text(f"{VOTED} has the most votes; it is a fine-tuned")
    link = page.get_by_role("link", name=re.compile(r"^DPO job ftjob-"))
    await expect(link).to_be_visible(timeout=30_000)
    job_id = (await link.inner_text()).removeprefix("DPO job ")
    assert await link.get_attribute("href") == f"#/train?job={job_id}"
    async with httpx.AsyncClient(base_url=f"{stack.url}/v1", headers=auth(key)) as api:
        try:
            jobs = (await api.get("/fine_tuning/jobs")).json()["data"]
            assert [(j["id"], j["model"], j["method"]["type"]) for j in jobs] == [
                (job_id, VOTED, "dpo")
            ]
            file = (await api.get(f"/files/{jobs[0]['training_file']}")).json()
            assert (file["filename"], file["purpose"]) == (
                f"{comparison_id}-votes.jsonl",
                "fine-tune",
            )
            content = (await api.get(f"/files/{file['id']}/content")).content.decode()
            assert len(content.splitlines()) == 2
            # Whether the job trains is the trainer's DPO recipe's business; the page's curve
            # of its step metrics is drawn by the same code as the Train page's.
            await expect(page.get_by_test_id("dpo-chart")).to_be_attached()
            await check_accessibility(page)
            await screenshot(page, tmp_path / "screenshots", "4-compare-train-on-votes")
        finally:  # the trainer is shared with the tests below
            await api.post(f"/fine_tuning/jobs/{job_id}/cancel")


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


async def test_a_running_evaluation_shows_its_live_count(
    page: Page, stack: ApiStack, tmp_path: Path
) -> None:
    """The Evaluate page counts a running evaluation's answers as they come in (it polls
    the job's events), until the evaluation is cancelled."""
    key = stack.key("watcher")
    n = 2000  # far more than finish while the page is watched
    rows = [
        {"messages": [{"role": "user", "content": f"Q{i}?"}, {"role": "assistant", "content": "A"}]}
        for i in range(n)
    ]
    body = "\n".join(json.dumps(r) for r in rows).encode()
    async with httpx.AsyncClient(base_url=f"{stack.url}/v1", headers=auth(key)) as api:
        file = await api.post(
            "/files", data={"purpose": "evals"}, files={"file": ("many.jsonl", body)}
        )
        created = await api.post(
            "/evaluations",
            json={"models": [TINY], "dataset_file": file.json()["id"], "max_tokens": 16},
        )
        evaluation_id = created.json()["id"]
        await log_in(page, stack, key)
        await page.evaluate(f"location.hash = '#/evaluate?id={evaluation_id}'")
        live = page.get_by_test_id("job-progress")
        count = re.compile(rf"answers (\d+)/{n} for {TINY}")
        await expect(live).to_contain_text(count, timeout=60_000)
        seen = {int(found[1]) for found in [count.search(await live.inner_text())] if found}
        for _ in range(300):  # the page redraws the count as answers come in
            found = count.search(await live.inner_text())
            seen |= {int(found[1])} if found else set()
            if len(seen) >= 2:
                break
            await page.wait_for_timeout(200)
        assert len(seen) >= 2 and max(seen) < n, seen
        await check_accessibility(page)
        await screenshot(page, tmp_path / "screenshots", "3-evaluate-running")
        await api.post(f"/evaluations/{evaluation_id}/cancel")
    await expect(page.get_by_role("alert")).to_contain_text("cancelled", timeout=30_000)


# An eval of OpenAI's Evals API with one string_check criterion; the jsonl run's given
# answers match the expected ones in rows 0 and 2 only.
EVAL_ITEMS = [
    ({"question": "函是什麼？", "answer": "機關往來的公文"}, "機關往來的公文"),
    ({"question": "公告給誰看？", "answer": "公眾"}, "長官"),
    ({"question": "What is 速別?", "answer": "urgency"}, "urgency"),
    ({"question": "簽由誰寫？", "answer": "承辦人"}, "不知道"),
]
EXACT = {
    "type": "string_check",
    "name": "exact answer",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "operation": "eq",
}


def eval_body(name: str) -> dict[str, object]:
    schema = {
        "type": "object",
        "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
        "required": ["question", "answer"],
    }
    return {
        "name": name,
        "data_source_config": {
            "type": "custom",
            "item_schema": schema,
            "include_sample_schema": True,
        },
        "testing_criteria": [EXACT],
    }


async def test_evals_list_their_runs_with_pass_rates_and_the_report(
    page: Page, stack: ApiStack, tmp_path: Path
) -> None:
    key = stack.key("evals")
    rows = [{"item": item, "sample": {"output_text": given}} for item, given in EVAL_ITEMS]
    async with httpx.AsyncClient(base_url=f"{stack.url}/v1", headers=auth(key)) as api:
        created = (await api.post("/evals", json=eval_body("公文 answers"))).json()
        source = {"type": "file_content", "content": rows}
        run = await api.post(
            f"/evals/{created['id']}/runs",
            json={"name": "given answers run", "data_source": {"type": "jsonl", "source": source}},
        )
        assert run.status_code == 200, run.text
    await log_in(page, stack, key)
    await visit(page, "evaluate")
    evals = page.get_by_test_id("evals")
    row = evals.get_by_role("row", name=re.compile(created["id"]))
    await expect(row).to_contain_text("公文 answers")
    await expect(row).to_contain_text("exact answer string_check")
    await row.get_by_role("button", name="Runs").click()
    await expect(page).to_have_url(re.compile(rf"#/evaluate\?eval={created['id']}$"))

    runs = page.get_by_test_id("eval-runs")
    await expect(runs).to_contain_text("given answers run")
    await expect(runs).to_contain_text("exact answer: 2/4 (50%)", timeout=60_000)
    await expect(runs).to_contain_text("2 passed · 2 failed · 0 errored")
    await expect(runs).to_contain_text("completed")
    async with page.context.expect_page() as opened:
        await runs.get_by_role("button", name="Open the HTML report").click()
    report = await opened.value
    await report.wait_for_load_state()
    assert "given answers run" in await report.content()
    await report.close()
    await check_accessibility(page)
    await screenshot(page, tmp_path / "screenshots", "3-evaluate-evals")

    await runs.get_by_role("button", name="Graded items").click()
    items = page.get_by_test_id("output-items")
    await expect(items.locator("tbody tr")).to_have_count(len(EVAL_ITEMS))
    await expect(items.locator("tbody tr").nth(1)).to_contain_text("exact answer: 0 (fail)")
    await expect(items.locator("tbody tr").nth(2)).to_contain_text("exact answer: 1 (pass)")
    await check_accessibility(page)


async def test_a_working_eval_run_shows_its_live_count_until_cancelled(
    page: Page, stack: ApiStack, tmp_path: Path
) -> None:
    """A completions run on the tiny model: the page counts its items ("sampling n/N",
    "grading n/N") as the worker reports them, and its Cancel button stops it."""
    key = stack.key("eval-watcher")
    n = 2000  # far more than finish while the page is watched
    rows = [{"item": {"question": f"Q{i}?", "answer": "A"}} for i in range(n)]
    async with httpx.AsyncClient(base_url=f"{stack.url}/v1", headers=auth(key)) as api:
        created = (await api.post("/evals", json=eval_body("many"))).json()
        data_source = {
            "type": "completions",
            "model": TINY,
            "input_messages": {
                "type": "template",
                "template": [{"role": "user", "content": "{{item.question}}"}],
            },
            "sampling_params": {"max_completion_tokens": 16},
            "source": {"type": "file_content", "content": rows},
        }
        run = await api.post(f"/evals/{created['id']}/runs", json={"data_source": data_source})
        assert run.status_code == 200, run.text
    await log_in(page, stack, key)
    await page.evaluate(f"location.hash = '#/evaluate?eval={created['id']}'")
    live = page.get_by_test_id("run-progress")
    count = re.compile(rf"(?:sampling|grading) (\d+)/{n}")
    await expect(live).to_contain_text(count, timeout=60_000)
    seen: set[int] = set()
    for _ in range(300):  # the page redraws the count as the worker reports batches
        found = count.search(await live.inner_text()) if await live.count() else None
        seen |= {int(found[1])} if found else set()
        if len(seen) >= 2:
            break
        await page.wait_for_timeout(200)
    assert len(seen) >= 2 and max(seen) < n, seen
    await check_accessibility(page)
    await screenshot(page, tmp_path / "screenshots", "3-evaluate-eval-running")
    runs = page.get_by_test_id("eval-runs")
    await runs.get_by_role("button", name="Cancel").click()
    await expect(runs).to_contain_text("canceled", timeout=30_000)
    await expect(live).to_have_count(0)
