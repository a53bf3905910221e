// Evaluate: run an evaluation (a training job's epochs, or chosen models) on a dataset,
// then show the matrix with the best checkpoint marked, plots, judge scores, suggestions
// and the HTML report. Below, the evals of OpenAI's Evals API and their runs (evals.js).
import { FINISHED, eventFeed, get, listAll, openHtml, post, chatModels } from "../api.js";
import { lineChart } from "../chart.js";
import { t } from "../i18n.js";
import {
  busy, button, clear, field, h, jobProgress, messages, poll, section, select, statusBadge, table, when,
} from "../ui.js";
import { evalsSection } from "./evals.js";

export async function render(root, ctx) {
  const [models, files, jobs] = await Promise.all([
    chatModels(),
    listAll("/v1/files"),
    get("/v1/fine_tuning/jobs?limit=50").then((p) => p.data),
  ]);
  const view = h("div");
  const evals = await evalsSection(ctx);
  root.append(createForm(models, files, jobs, ctx), await recent(ctx), view, evals);
  if (ctx.params.id) show(view, ctx.params.id, ctx);
  if (ctx.params.eval) evals.scrollIntoView(); // the chosen eval's runs, not the form above
}

function createForm(models, files, jobs, ctx) {
  const job = select([["", t("eval.pickModels")], ...jobs.filter((j) => j.status === "succeeded").map((j) => [j.id, `${j.id} (${j.fine_tuned_model || j.model})`])], ctx.params.job || "");
  const chosen = h("select", { multiple: true, size: Math.min(6, Math.max(2, models.length)) }, models.map((m) => h("option", { value: m.id }, m.id)));
  const dataset = select(files.filter((f) => ["fine-tune", "evals"].includes(f.purpose)).map((f) => [f.id, `${f.filename} (${f.id})`]));
  const judge = select([["", t("eval.noJudge")], ...models.map((m) => m.id)]);
  const out = messages();
  const start = button(t("eval.start"), () =>
    busy(start, out, async () => {
      const body = { dataset_file: dataset.value };
      if (job.value) body.fine_tuning_job = job.value;
      else body.models = [...chosen.selectedOptions].map((o) => o.value);
      if (judge.value) body.judge_model = judge.value;
      const created = await post("/v1/evaluations", body);
      ctx.go("evaluate", { id: created.id });
    }),
    "primary",
  );
  return section(
    t("eval.new"),
    h("div", { class: "row" }, field(t("eval.job"), job, t("eval.jobHint")), field(t("eval.models"), chosen), field(t("eval.dataset"), dataset), field(t("eval.judge"), judge)),
    start,
    out,
  );
}

async function recent(ctx) {
  const out = messages();
  try {
    const items = (await get("/v1/evaluations?limit=10")).data;
    if (!items.length) return section(t("eval.recent"), h("p", {}, t("eval.none")));
    return section(t("eval.recent"), table([t("col.id"), t("col.status"), t("col.created"), ""],
      items.map((e) => [e.id, statusBadge(e.status), when(e.created_at), button(t("compare.open"), () => ctx.go("evaluate", { id: e.id }))])));
  } catch (err) {
    out.error(err);
    return section(t("eval.recent"), out);
  }
}

function show(view, id, ctx) {
  const out = messages();
  const body = h("div");
  clear(view, section(`${t("eval.title")} ${id}`, body, out));
  const events = eventFeed(`/v1/evaluations/${id}`);
  poll(ctx.signal, 1500, async () => {
    const job = await get(`/v1/evaluations/${id}`);
    if (!FINISHED.has(job.status)) {
      clear(body, statusBadge(job.status), jobProgress(await events()));
      return false;
    }
    if (job.status !== "succeeded") {
      clear(body, statusBadge(job.status), h("p", { class: "error", role: "alert" }, job.error?.message || job.status));
      return true;
    }
    renderResults(body, id, await get(`/v1/evaluations/${id}/results`), out);
    return true;
  }, (err) => out.error(err));
}

// Rows of the matrix as {model, epoch, metrics}, whichever shape the results carry them in.
function matrixRows(results) {
  const raw = results.matrix || results.rows || results.models || [];
  const list = Array.isArray(raw) ? raw : Object.entries(raw).map(([model, metrics]) => ({ model, metrics }));
  return list.map((r) => {
    const metrics = r.metrics || Object.fromEntries(Object.entries(r).filter(([k, v]) => typeof v === "number" && k !== "epoch"));
    return { model: r.model, epoch: r.epoch ?? null, metrics };
  });
}

const fmt = (v) => (typeof v === "number" ? (Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(3)) : v ?? "—");

function renderResults(body, id, results, out) {
  const rows = matrixRows(results);
  const metricNames = [...new Set(rows.flatMap((r) => Object.keys(r.metrics)))].filter((m) => m !== "epoch");
  const best = results.best_model || results.best?.model || results.verdict?.best_model;
  const matrix = h(
    "table",
    { class: "matrix", "data-testid": "matrix" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("col.model")), metricNames.map((m) => h("th", { scope: "col" }, m)))),
    h("tbody", {}, rows.map((r) => h("tr", { class: r.model === best ? "best" : null },
      h("th", { scope: "row" }, r.model === best ? `★ ${r.model}` : r.model), metricNames.map((m) => h("td", {}, fmt(r.metrics[m])))))),
  );
  const byEpoch = rows.filter((r) => Number.isFinite(r.epoch));
  const plots = byEpoch.length > 1
    ? metricNames.slice(0, 6).map((m) => lineChart({ title: m, yLabel: m, xLabel: t("train.epoch"), series: [{ name: m, points: byEpoch.map((r) => [r.epoch, r.metrics[m]]) }] }))
    : [];
  const suggestions = results.suggestions || [];
  const judge = results.judge || results.judge_scores;
  const report = button(t("eval.report"), () => busy(report, out, () => openHtml(`/v1/evaluations/${id}/report`)));
  clear(
    body,
    results.verdict ? h("p", { class: "verdict" }, typeof results.verdict === "string" ? results.verdict : results.verdict.message) : null,
    best ? h("p", {}, `${t("eval.best")}: `, h("strong", {}, best)) : null,
    matrix,
    h("div", { class: "plots" }, plots),
    judge ? section(t("eval.judgeScores"), h("pre", {}, JSON.stringify(judge, null, 2))) : null,
    suggestions.length ? section(t("eval.suggestions"), h("ul", {}, suggestions.map((s) => h("li", {}, typeof s === "string" ? s : s.message || JSON.stringify(s))))) : null,
    report,
  );
}
