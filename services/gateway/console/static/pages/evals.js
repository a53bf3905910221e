// The Evaluate page's Evals section (OpenAI's Evals API, /v1/evals): the tenant's evals with
// their criteria; for the chosen eval its runs, each with a live count while it works, the
// pass rate per criterion, its HTML report and a cancel button; for the chosen run its first
// graded items.
import { get, openHtml, post } from "../api.js";
import { t } from "../i18n.js";
import { busy, button, clear, h, messages, poll, progress, section, statusBadge, table, when } from "../ui.js";

const WORKING = new Set(["queued", "in_progress"]);
const ITEMS_SHOWN = 10;

// `ctx.params.eval` chooses an eval, `ctx.params.run` one of its runs.
export async function evalsSection(ctx) {
  const { eval: evalId, run: runId } = ctx.params;
  return h(
    "div",
    {},
    await evalList(ctx, evalId),
    evalId ? await runsSection(evalId, ctx) : null,
    evalId && runId ? await itemsSection(evalId, runId) : null,
  );
}

async function evalList(ctx, chosen) {
  const out = messages();
  let evals;
  try {
    evals = (await get("/v1/evals?order=desc&limit=20")).data;
  } catch (err) {
    out.error(err);
    return section(t("evals.title"), out);
  }
  if (!evals.length) return section(t("evals.title"), h("p", {}, t("evals.none")));
  const list = table(
    [t("col.name"), t("col.id"), t("evals.criteria"), t("col.created"), ""],
    evals.map((e) => [
      e.id === chosen ? h("strong", {}, e.name) : e.name,
      h("code", {}, e.id),
      h("ul", { class: "plain" }, e.testing_criteria.map((c) => h("li", {}, `${c.name} `, h("small", { class: "hint" }, c.type)))),
      when(e.created_at),
      button(t("evals.showRuns"), () => ctx.go("evaluate", { eval: e.id })),
    ]),
  );
  list.setAttribute("data-testid", "evals");
  return section(t("evals.title"), h("p", { class: "hint" }, t("evals.intro")), list);
}

// The runs table, redrawn by the poll while any run is queued or working (only when
// something changed, so a button is not replaced under the pointer).
async function runsSection(evalId, ctx) {
  const out = messages();
  let record;
  try {
    record = await get(`/v1/evals/${evalId}`);
  } catch (err) {
    out.error(err);
    return section(t("evals.runsOf", { name: evalId }), out);
  }
  const body = h("div", { "data-testid": "eval-runs" });
  let drawn = "";
  poll(ctx.signal, 1500, async () => {
    const listed = (await get(`/v1/evals/${evalId}/runs?order=desc&limit=20`)).data;
    // The list leaves a working run's progress out; each working run is asked for its own.
    const runs = await Promise.all(listed.map((r) => (WORKING.has(r.status) ? get(`/v1/evals/${evalId}/runs/${r.id}`) : r)));
    const state = JSON.stringify(runs);
    if (state !== drawn) {
      drawn = state;
      clear(body, runs.length ? runsTable(evalId, runs, out, ctx) : h("p", {}, t("evals.noRuns")));
    }
    return !runs.some((r) => WORKING.has(r.status));
  }, (err) => out.error(err));
  return section(t("evals.runsOf", { name: record.name || evalId }), body, out);
}

function runsTable(evalId, runs, out, ctx) {
  return table(
    [t("col.name"), t("col.model"), t("col.status"), t("evals.passRates"), t("evals.result"), t("col.created"), ""],
    runs.map((r) => [
      [r.name || r.id, r.name ? h("div", { class: "hint" }, r.id) : null],
      r.model || t("evals.givenAnswers"),
      [
        statusBadge(r.status),
        r.status === "in_progress" ? liveCount(r.progress) : null,
        r.error ? h("p", { class: "error" }, r.error.message) : null,
      ],
      passRates(r.per_testing_criteria_results),
      r.status === "completed" ? t("evals.counts", r.result_counts) : "—",
      when(r.created_at),
      h(
        "div",
        { class: "actions" },
        r.report_url ? button(t("eval.report"), (ev) => busy(ev.currentTarget, out, () => openHtml(r.report_url))) : null,
        r.status === "completed" ? button(t("evals.items"), () => ctx.go("evaluate", { eval: evalId, run: r.id })) : null,
        WORKING.has(r.status)
          ? button(t("train.cancel"), (ev) => busy(ev.currentTarget, out, () => post(`/v1/evals/${evalId}/runs/${r.id}/cancel`)))
          : null,
      ),
    ]),
  );
}

// "sampling 12/40", then "grading 12/40", as the worker reports each batch.
function liveCount(count) {
  let el;
  if (!count) {
    el = progress(t("train.working")); // started, no batch reported yet
  } else {
    const { stage, done, total } = count;
    el = progress(t(`evals.stage.${stage}`, count, `${stage} ${done}/${total}`), total ? Math.min(1, done / total) : null);
  }
  el.setAttribute("data-testid", "run-progress");
  return el;
}

// One line per criterion: "name: passed/total (%)", total being the items it judged.
function passRates(results) {
  if (!results.length) return "—";
  return h(
    "ul",
    { class: "plain" },
    results.map((c) => {
      const total = c.passed + c.failed;
      const share = total ? ` (${Math.round((100 * c.passed) / total)}%)` : "";
      return h("li", {}, `${c.testing_criteria}: ${c.passed}/${total}${share}`);
    }),
  );
}

// "judge: 0.75 (pass)", or the grader's own error.
function gradeLine(r) {
  const score = typeof r.score === "number" ? String(Math.round(r.score * 1000) / 1000) : "—";
  const verdict = t(`status.${r.error ? "error" : r.passed ? "pass" : "fail"}`);
  return h("li", {}, `${r.name}: ${score} (${verdict})`, r.error ? h("div", { class: "error" }, r.error) : null);
}

async function itemsSection(evalId, runId) {
  const title = t("evals.itemsOf", { n: ITEMS_SHOWN, run: runId });
  const out = messages();
  let items;
  try {
    items = (await get(`/v1/evals/${evalId}/runs/${runId}/output_items?limit=${ITEMS_SHOWN}`)).data;
  } catch (err) {
    out.error(err);
    return section(title, out);
  }
  const list = table(
    ["#", t("col.status"), t("evals.item"), t("evals.answer"), t("evals.scores")],
    items.map((i) => [
      i.datasource_item_id,
      statusBadge(i.status),
      h("code", {}, JSON.stringify(i.datasource_item)),
      [
        (i.sample.output || []).map((m) => m.content).join("\n"),
        i.sample.error ? h("div", { class: "error" }, i.sample.error.message) : null,
      ],
      h("ul", { class: "plain" }, i.results.map(gradeLine)),
    ]),
  );
  list.setAttribute("data-testid", "output-items");
  return section(title, list);
}
