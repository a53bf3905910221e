// Validate side by side: 2+ models answer the same questions; thumbs-up per answer,
// tallies, CSV download, "train on my votes" (a DPO job, train_on_votes.js) and "create
// workspace" (Q4_K_M export into Ollama) with progress.
import { ApiError, FINISHED, download, eventFeed, get, post, uploadFile, chatModels } from "../api.js";
import { t } from "../i18n.js";
import {
  busy, button, clear, field, h, jobProgress, messages, poll, section, statusBadge, table, when,
} from "../ui.js";
import { trainOnVotesSection } from "./train_on_votes.js";

export async function render(root, ctx) {
  const models = await chatModels();
  const view = h("div", { class: "comparison" });
  root.append(createForm(models, ctx), await recent(ctx), view);
  if (ctx.params.id) show(view, ctx.params.id, ctx);
}

function createForm(models, ctx) {
  const wanted = new Set((ctx.params.models || "").split(",").filter(Boolean));
  const boxes = models.map((m, i) => {
    const box = h("input", { type: "checkbox", value: m.id, id: `cmp-model-${i}`, checked: wanted.has(m.id) });
    return h("div", { class: "check" }, box, h("label", { for: box.id }, m.parent ? `${m.id}` : `${m.id} (${t("models.base")})`));
  });
  const maxTokens = h("input", { type: "number", min: 1, max: 4096, value: 128 });
  const temperature = h("input", { type: "number", min: 0, max: 2, step: 0.1, value: 0 });
  const topP = h("input", { type: "number", min: 0.01, max: 1, step: 0.05, value: 1 });
  const questions = h("textarea", { rows: 4, placeholder: t("compare.questionsHint") });
  const file = h("input", { type: "file", accept: ".json,application/json" });
  const out = messages();
  const start = button(t("compare.start"), () =>
    busy(start, out, async () => {
      const chosen = boxes.map((b) => b.querySelector("input")).filter((b) => b.checked).map((b) => b.value);
      const body = {
        models: chosen,
        max_tokens: Number(maxTokens.value),
        temperature: Number(temperature.value),
        top_p: Number(topP.value),
      };
      if (file.files.length) {
        body.questions_file = (await uploadFile(file.files[0], "user_data")).id;
      } else {
        body.questions = questions.value.split("\n").map((q) => q.trim()).filter(Boolean);
      }
      const job = await post("/v1/comparisons", body);
      ctx.go("compare", { id: job.id });
    }),
    "primary",
  );
  return section(
    t("compare.new"),
    h("fieldset", {}, h("legend", {}, t("compare.models")), boxes),
    h("div", { class: "row" }, field(t("compare.maxTokens"), maxTokens), field(t("compare.temperature"), temperature), field("top_p", topP)),
    field(t("compare.questions"), questions),
    field(t("compare.questionsFile"), file, t("compare.questionsFileHint")),
    start,
    out,
  );
}

async function recent(ctx) {
  let items;
  try {
    items = (await get("/v1/comparisons?limit=10")).data;
  } catch (err) {
    const out = messages();
    out.error(err);
    return section(t("compare.recent"), out);
  }
  if (!items.length) return section(t("compare.recent"), h("p", {}, t("compare.none")));
  return section(
    t("compare.recent"),
    table(
      [t("col.id"), t("col.status"), t("col.created"), ""],
      items.map((c) => [c.id, statusBadge(c.status), when(c.created_at), button(t("compare.open"), () => ctx.go("compare", { id: c.id }))]),
    ),
  );
}

function show(view, id, ctx) {
  const out = messages();
  const body = h("div");
  clear(view, section(`${t("compare.title")} ${id}`, body, out));
  const events = eventFeed(`/v1/comparisons/${id}`);
  poll(ctx.signal, 1000, async () => {
    const cmp = await get(`/v1/comparisons/${id}`);
    if (!FINISHED.has(cmp.status)) {
      clear(body, statusBadge(cmp.status), h("p", {}, t("compare.generating")), jobProgress(await events()));
      return false;
    }
    if (cmp.status !== "succeeded") {
      clear(body, statusBadge(cmp.status), h("p", { class: "error", role: "alert" }, cmp.error?.message || cmp.status));
      return true;
    }
    renderAnswers(body, cmp, out, ctx);
    return true;
  }, (err) => out.error(err));
}

function renderAnswers(body, cmp, out, ctx) {
  const tallies = h("p", { class: "tallies", "data-testid": "tallies" });
  const training = trainOnVotesSection(cmp, ctx);
  const showTallies = (byModel) => {
    clear(tallies, `${t("compare.tallies")}: `, Object.entries(byModel).map(([m, n]) => `${m}: ${n}`).join(" · "));
    training.update(byModel);
  };
  showTallies(cmp.votes_by_model);
  const rows = cmp.rows.map((row) =>
    h(
      "div",
      { class: "qa" },
      h("h3", {}, `${row.question_index + 1}. ${row.question}`),
      h("div", { class: "answers", style: `--cols:${row.answers.length}` }, row.answers.map((a) => answerCard(cmp, row, a, out, showTallies))),
    ),
  );
  const csv = button(t("compare.csv"), () => busy(csv, out, () => download(`/v1/comparisons/${cmp.id}/export.csv`, `${cmp.id}.csv`)));
  clear(body, tallies, h("div", { class: "actions" }, csv), rows, training, workspace(cmp));
}

function answerCard(cmp, row, answer, out, showTallies) {
  const count = h("span", { class: "votes" }, String(answer.votes));
  const thumb = h("button", { type: "button", "aria-pressed": "false", "aria-label": `${t("compare.thumb")} ${answer.model}` }, "👍 ", count);
  thumb.addEventListener("click", () =>
    busy(thumb, out, async () => {
      const withdraw = thumb.getAttribute("aria-pressed") === "true";
      const vote = await post(`/v1/comparisons/${cmp.id}/votes`, { question_index: row.question_index, model: answer.model, withdraw });
      thumb.setAttribute("aria-pressed", String(vote.voted));
      count.textContent = String(vote.votes);
      showTallies((await get(`/v1/comparisons/${cmp.id}/votes`)).by_model);
    }),
  );
  return h("article", { class: "answer" }, h("h4", {}, answer.model), h("p", { class: "text" }, answer.text || "∅"), thumb);
}

// "Create workspace": export the chosen model as the smallest GGUF within the drift budget
// (quantization "auto", the API's default) and import it into Ollama, through the
// comparison's own endpoint, or the plain export API where that is absent.
async function startWorkspace(cmp, model) {
  const body = { model };
  try {
    return await post(`/v1/comparisons/${cmp.id}/workspace`, body);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404 && /Unknown request URL/.test(err.message))) throw err;
    return post("/v1/exports", body);
  }
}

function workspace(cmp) {
  const model = h("select", {}, cmp.models.map((m) => h("option", { value: m }, m)));
  const out = messages();
  const status = h("div", { class: "export-progress", "aria-live": "polite" });
  const create = button(t("compare.workspace"), () =>
    busy(create, out, async () => {
      const job = await startWorkspace(cmp, model.value);
      followExport(job.id, status, out);
    }),
  );
  return section(t("compare.workspaceTitle"), h("p", { class: "hint" }, t("compare.workspaceHint")), field(t("compare.workspaceModel"), model), create, status, out);
}

function followExport(id, status, out) {
  const signal = new AbortController().signal; // outlives re-renders of the answers
  const events = eventFeed(`/v1/exports/${id}`);
  poll(signal, 1500, async () => {
    const job = await get(`/v1/exports/${id}`);
    const { result_files: files = [], ...rest } = job.result || {};
    clear(
      status,
      h("p", {}, `${id} `, statusBadge(job.status)),
      FINISHED.has(job.status) ? null : jobProgress(await events()),
      job.error ? h("p", { class: "error", role: "alert" }, job.error.message) : null,
      files.map((f) => button(`${t("compare.downloadFile")} ${f}`, (ev) => busy(ev.currentTarget, out, () => downloadFile(f)))),
      job.status === "succeeded" ? exportChoice(rest) : null,
      job.status === "succeeded" ? h("details", {}, h("summary", {}, t("compare.exportReport")), h("pre", {}, JSON.stringify(rest, null, 2))) : null,
    );
    return FINISHED.has(job.status);
  }, (err) => out.error(err));
}

// The quantisations the export tried and the one it kept: size against drift, in a table.
function exportChoice(result) {
  const rungs = result.rungs || [];
  if (!rungs.length) return null;
  const lost = (r) => (r.rouge_l_drift == null ? "–" : r.rouge_l_drift.toFixed(1));
  return h(
    "div",
    { class: "export-choice" },
    result.choice ? h("p", {}, result.choice) : null,
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, ["type", "size", "lost", "identical", "budget"].map((k) => h("th", {}, t(`compare.rung.${k}`))))),
      h(
        "tbody",
        {},
        rungs.map((r) =>
          h(
            "tr",
            { class: r.quantization === result.quantization ? "kept" : "" },
            h("td", {}, r.quantization),
            h("td", {}, `${(r.bytes / 2 ** 20).toFixed(0)} MiB`),
            h("td", {}, lost(r)),
            h("td", {}, `${r.greedy_identical.toFixed(0)} %`),
            h("td", {}, r.within_budget ? "✓" : "✗"),
          ),
        ),
      ),
    ),
  );
}

async function downloadFile(id) {
  const file = await get(`/v1/files/${id}`);
  await download(`/v1/files/${id}/content`, file.filename);
}
