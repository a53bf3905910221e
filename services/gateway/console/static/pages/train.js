// Train: pick a base model and a dataset, start with defaults, watch the curves live,
// pause / resume / cancel, and read the verdict.
import { FINISHED, fineTuningEventFeed, get, listAll, post, chatModels } from "../api.js";
import { drawChart } from "../chart.js";
import { t } from "../i18n.js";
import {
  busy, button, clear, field, h, messages, poll, progress, section, select, statusBadge, table, when,
} from "../ui.js";

const RECIPES = ["lora", "dora", "qlora", "full", "demo"];

export async function render(root, ctx) {
  const [models, files] = await Promise.all([chatModels(), listAll("/v1/files", { purpose: "fine-tune" })]);
  const watchArea = h("div", { class: "watch" });
  const jobs = h("div", {}, await jobList(ctx));
  // The list is redrawn when the watched job finishes, so its status there is current.
  const refreshJobs = async () => clear(jobs, await jobList(ctx));
  root.append(startForm(models, files, ctx), jobs, watchArea);
  if (ctx.params.job) watch(watchArea, ctx.params.job, ctx, refreshJobs);
}

function numberOrAuto(input) {
  const v = input.value.trim();
  return v === "" || v === "auto" ? "auto" : Number(v);
}

function startForm(models, files, ctx) {
  const bases = models.filter((m) => !m.parent).map((m) => m.id);
  const datasets = files.map((f) => [f.id, `${f.filename} (${f.id})`]);
  const model = select(bases);
  const dataset = select(datasets.length ? datasets : [["", t("train.noDatasets")]], ctx.params.dataset);
  const validation = select([["", t("train.noValidation")], ...datasets]);
  const suffix = h("input", { type: "text", maxlength: 64, placeholder: "gongwen" });
  const epochs = h("input", { type: "text", inputmode: "numeric", placeholder: "auto" });
  const batch = h("input", { type: "text", inputmode: "numeric", placeholder: "auto" });
  const lr = h("input", { type: "text", inputmode: "decimal", placeholder: "auto" });
  const recipe = select(RECIPES, "lora");
  const rank = h("input", { type: "number", min: 1, max: 512, placeholder: "16" });
  const alpha = h("input", { type: "number", min: 1, placeholder: "32" });
  const out = messages();
  const start = button(t("train.start"), () =>
    busy(start, out, async () => {
      const supervised = {};
      if (rank.value) supervised.lora_rank = Number(rank.value);
      if (alpha.value) supervised.lora_alpha = Number(alpha.value);
      const body = {
        model: model.value,
        training_file: dataset.value,
        hyperparameters: { n_epochs: numberOrAuto(epochs), batch_size: numberOrAuto(batch), learning_rate_multiplier: numberOrAuto(lr) },
        recipe: recipe.value,
      };
      if (validation.value) body.validation_file = validation.value;
      if (suffix.value.trim()) body.suffix = suffix.value.trim();
      if (Object.keys(supervised).length) body.method = { type: "supervised", supervised };
      const job = await post("/v1/fine_tuning/jobs", body);
      ctx.go("train", { job: job.id });
    }),
    "primary",
  );
  return section(
    t("train.new"),
    h("div", { class: "row" }, field(t("train.model"), model), field(t("train.dataset"), dataset, t("train.datasetHint"))),
    h("p", { class: "hint" }, t("train.autoEpochs")),
    h(
      "details",
      {},
      h("summary", {}, t("train.advanced")),
      h(
        "div",
        { class: "row" },
        field(t("train.validation"), validation),
        field(t("train.suffix"), suffix),
        field(t("train.epochs"), epochs),
        field(t("train.batch"), batch),
        field(t("train.lr"), lr),
        field(t("train.recipe"), recipe),
        field(t("train.rank"), rank),
        field(t("train.alpha"), alpha),
      ),
    ),
    start,
    out,
  );
}

async function jobList(ctx) {
  const jobs = (await get("/v1/fine_tuning/jobs?limit=20")).data;
  if (!jobs.length) return section(t("train.jobs"), h("p", {}, t("train.noJobs")));
  return section(
    t("train.jobs"),
    table(
      [t("col.id"), t("col.model"), t("col.status"), t("col.created"), ""],
      jobs.map((j) => [
        j.id, j.model, statusBadge(j.status), when(j.created_at),
        button(t("train.watch"), () => ctx.go("train", { job: j.id })),
      ]),
    ),
  );
}

function curves(events) {
  const train = [], valid = [];
  for (const e of events) {
    const d = e.data || {};
    if (e.type === "metrics" && Number.isFinite(d.train_loss)) train.push([d.epoch, d.train_loss]);
    const m = d.metrics || {};
    if (d.model_name && d.epoch > 0 && Number.isFinite(m.valid_loss)) valid.push([d.epoch, m.valid_loss]);
  }
  return [
    { name: t("train.trainLoss"), points: train },
    { name: t("train.validLoss"), points: valid },
  ];
}

function watch(area, jobId, ctx, onFinished) {
  const feed = fineTuningEventFeed(jobId);
  const head = h("div");
  const chart = h("div", { class: "chart-box", "data-testid": "loss-chart" });
  const log = h("ul", { class: "events", "aria-label": t("train.events") });
  const out = messages();
  clear(area, section(`${t("train.job")} ${jobId}`, head, chart, out, h("h3", {}, t("train.events")), log));
  poll(ctx.signal, 1000, async () => {
    const [job, events] = await Promise.all([get(`/v1/fine_tuning/jobs/${jobId}`), feed()]);
    clear(head, ...jobHead(job, events, out, ctx));
    drawChart(chart, { title: t("train.curves"), series: curves(events), xLabel: t("train.epoch"), yLabel: t("train.loss") });
    clear(log, ...events.slice(-12).reverse().map((e) => h("li", {}, `${when(e.created_at)} · ${e.message}`)));
    if (FINISHED.has(job.status)) await onFinished();
    return FINISHED.has(job.status);
  }, (err) => out.error(err));
}

function jobHead(job, events, out, ctx) {
  const n = typeof job.hyperparameters?.n_epochs === "number" ? job.hyperparameters.n_epochs : null;
  const saved = events.filter((e) => e.data?.model_name && e.data.epoch > 0).length;
  const control = (action) =>
    button(t(`train.${action}`), (ev) => busy(ev.currentTarget, out, () => post(`/v1/fine_tuning/jobs/${job.id}/${action}`)));
  const actions = [];
  if (["queued", "running", "validating_files"].includes(job.status)) actions.push(control("pause"));
  if (job.status === "paused") actions.push(control("resume"));
  if (!FINISHED.has(job.status)) actions.push(control("cancel"));
  const parts = [
    h("p", {}, statusBadge(job.status), " ", job.model, job.fine_tuned_model ? ` → ${job.fine_tuned_model}` : ""),
  ];
  if (!FINISHED.has(job.status)) {
    parts.push(progress(n ? t("train.epochsDone", { done: saved, total: n }) : t("train.working"), n ? saved / n : null));
  }
  parts.push(h("div", { class: "actions" }, actions));
  if (job.error) parts.push(h("p", { class: "error", role: "alert" }, `${t("error")}: ${job.error.message}`));
  if (job.verdict) {
    const best = job.verdict.best_checkpoint;
    parts.push(
      h(
        "div",
        { class: "verdict", "data-testid": "verdict" },
        h("h3", {}, t("train.verdict")),
        h("p", {}, job.verdict.message),
        best ? h("p", {}, `${t("train.best")}: `, h("code", {}, best)) : null,
        h(
          "div",
          { class: "actions" },
          button(t("train.compare"), () => ctx.go("compare", { models: [job.model, best].filter(Boolean).join(",") })),
          button(t("train.evaluate"), () => ctx.go("evaluate", { job: job.id })),
        ),
      ),
    );
  }
  return parts;
}
