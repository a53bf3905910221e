// The side-by-side page's "Train on my votes": the comparison's votes become a preference
// file, a DPO job starts on the model people preferred (the most thumbs-ups in all; a
// fine-tuned model is tuned further from where it is), and its curve grows live below.
import { FINISHED, fineTuningEventFeed, get, post } from "../api.js";
import { drawChart } from "../chart.js";
import { t } from "../i18n.js";
import { busy, button, clear, h, messages, poll, section, statusBadge } from "../ui.js";

// The model with the most votes in all (the first of `models` on a tie); null without votes.
function preferredModel(models, votesByModel) {
  let best = null, most = 0;
  for (const m of models) if ((votesByModel[m] || 0) > most) [best, most] = [m, votesByModel[m]];
  return best;
}

// "2 pairs; left out: questions nobody voted on (1), questions whose top answers tie (1)"
function pairsSummary(file) {
  const pairs = file.pairs === 1 ? t("compare.onePair") : t("compare.pairs", { n: file.pairs });
  const left = Object.entries(file.left_out || {}).filter(([, n]) => n > 0);
  if (!left.length) return t("compare.nothingLeftOut", { pairs });
  const reasons = left.map(([reason, n]) => t(`compare.leftOut.${reason}`, { n }, `${reason} ({n})`));
  return t("compare.leftOut", { pairs, reasons: reasons.join(t("compare.listJoin")) });
}

// A DPO job's step metrics: its loss and how far the preferred answer's reward leads.
function stepCurves(events) {
  const series = [
    { key: "train_loss", name: t("train.trainLoss"), points: [] },
    { key: "reward_margin", name: t("compare.rewardMargin"), points: [] },
  ];
  for (const e of events) {
    if (e.type !== "metrics") continue;
    for (const s of series) if (Number.isFinite(e.data?.[s.key])) s.points.push([e.data.step, e.data[s.key]]);
  }
  return series;
}

// `update(votesByModel)` enables the button once there is a vote to train on.
export function trainOnVotesSection(cmp, ctx) {
  let following = new AbortController(); // a second click follows its own job instead
  const out = messages();
  const summary = h("div", { "data-testid": "preference-summary" });
  const job = h("div", { class: "dpo-job", "aria-live": "polite" });
  const chart = h("div", { class: "chart-box", "data-testid": "dpo-chart" });
  const start = button(t("compare.trainOnVotes"), () =>
    busy(start, out, async () => {
      clear(summary);
      const file = await post(`/v1/comparisons/${cmp.id}/preference_file`);
      // Everyone's votes as they are now, not only those this page has seen.
      const model = preferredModel(cmp.models, (await get(`/v1/comparisons/${cmp.id}/votes`)).by_model);
      const from = model.startsWith("ft:") ? t("compare.dpoContinues", { model }) : t("compare.dpoOn", { model });
      clear(summary, h("p", {}, pairsSummary(file)), h("p", {}, from));
      const created = await post("/v1/fine_tuning/jobs", { model, training_file: file.id, method: { type: "dpo", dpo: {} } });
      following.abort();
      following = new AbortController();
      follow(created.id, job, chart, out, AbortSignal.any([ctx.signal, following.signal]));
    }),
    "primary",
  );
  const el = section(t("compare.trainTitle"), h("p", { class: "hint" }, t("compare.trainHint")), start, summary, job, chart, out);
  el.update = (byModel) => (start.disabled = !preferredModel(cmp.models, byModel));
  el.update(cmp.votes_by_model);
  return el;
}

function follow(jobId, area, chart, out, signal) {
  const feed = fineTuningEventFeed(jobId);
  poll(signal, 1000, async () => {
    const [job, events] = await Promise.all([get(`/v1/fine_tuning/jobs/${jobId}`), feed()]);
    const last = events[events.length - 1];
    clear(
      area,
      h("p", {}, h("a", { href: `#/train?job=${jobId}` }, `${t("compare.dpoJob")} ${jobId}`), " ", statusBadge(job.status), job.fine_tuned_model ? ` → ${job.fine_tuned_model}` : ""),
      last && !FINISHED.has(job.status) ? h("p", { class: "hint" }, last.message) : null,
      job.error ? h("p", { class: "error", role: "alert" }, `${t("error")}: ${job.error.message}`) : null,
    );
    drawChart(chart, { title: t("compare.dpoCurves"), series: stepCurves(events), xLabel: t("compare.step") });
    return FINISHED.has(job.status);
  }, (err) => out.error(err));
}
