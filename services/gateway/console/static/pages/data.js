// Data: upload documents or a dataset, validate datasets, generate Q&A pairs from
// documents (datagen), review the pairs (edit, confirm, drop) and build a dataset from them.
import { FINISHED, api, eventFeed, get, listAll, post, uploadFile } from "../api.js";
import { t } from "../i18n.js";
import {
  busy, button, clear, field, h, jobProgress, messages, poll, progress, section, select, statusBadge, table, when,
} from "../ui.js";

const PURPOSES = [["fine-tune", "data.purposeDataset"], ["datagen", "data.purposeDocs"], ["knowledge", "data.purposeKnowledge"]];

export async function render(root, ctx) {
  const files = await listAll("/v1/files");
  const report = h("div", { "data-testid": "validation" });
  const review = h("div");
  const filesBox = h("div", {}, filesTable(files, report));
  // After an upload only the list is redrawn, so the upload's message and report stay.
  const refresh = async () => clear(filesBox, filesTable(await listAll("/v1/files"), report));
  root.append(uploadForm(report, refresh), report, filesBox, datagenForm(files, review, ctx), review);
  if (ctx.params.datagen) followDatagen(ctx.params.datagen, review, ctx);
}

function uploadForm(report, refresh) {
  const files = h("input", { type: "file", multiple: true, accept: ".json,.jsonl,.pdf,.docx,.md,.txt,.html,.csv" });
  const purpose = select(PURPOSES.map(([v, k]) => [v, t(k)]), "fine-tune");
  const out = messages();
  const upload = button(t("data.upload"), () =>
    busy(upload, out, async () => {
      if (!files.files.length) throw new Error(t("data.pickFiles"));
      const uploaded = [];
      for (const f of files.files) uploaded.push(await uploadFile(f, purpose.value));
      out.info(`${t("data.uploaded")}: ${uploaded.map((f) => `${f.filename} (${f.id})`).join(", ")}`);
      await refresh();
      if (purpose.value === "fine-tune") await validate(uploaded[0], report);
    }),
    "primary",
  );
  return section(t("data.uploadTitle"), h("div", { class: "row" }, field(t("data.files"), files), field(t("data.purpose"), purpose)), upload, out);
}

function filesTable(files, report) {
  if (!files.length) return section(t("data.filesTitle"), h("p", {}, t("data.noFiles")));
  return section(
    t("data.filesTitle"),
    table(
      [t("col.id"), t("col.name"), t("data.purpose"), t("col.bytes"), t("col.created"), ""],
      files.map((f) => [
        f.id, f.filename, f.purpose, f.bytes, when(f.created_at),
        f.purpose === "fine-tune" ? button(t("data.validate"), (ev) => busy(ev.currentTarget, null, () => validate(f, report))) : "",
      ]),
    ),
  );
}

// The API's validation report: detected format, counts, every bad line with its reason.
async function validate(file, report) {
  const out = messages();
  clear(report, section(`${t("data.report")}: ${file.filename}`, progress(t("data.validating")), out));
  let r;
  try {
    r = await post("/v1/datasets/validate", { file_id: file.id });
  } catch (err) {
    clear(report, section(`${t("data.report")}: ${file.filename}`, out));
    out.error(err);
    return;
  }
  const problems = r.errors || r.problems || [];
  const counts = Object.entries(r).filter(([, v]) => typeof v === "number" || typeof v === "boolean");
  clear(
    report,
    section(
      `${t("data.report")}: ${file.filename}`,
      h("p", {}, `${t("data.format")}: `, h("strong", {}, r.format || r.detected_format || "?")),
      table([t("data.count"), ""], counts.map(([k, v]) => [k, String(v)])),
      problems.length
        ? h("ul", { class: "problems" }, problems.map((p) => h("li", { class: "error" }, `${t("data.line")} ${p.line ?? p.line_number ?? "?"}: ${p.message || p.reason}`)))
        : h("p", { class: "ok" }, t("data.noProblems")),
    ),
  );
}

function datagenForm(files, review, ctx) {
  const docs = files.filter((f) => f.purpose === "datagen");
  const boxes = docs.map((f, i) => {
    const box = h("input", { type: "checkbox", value: f.id, id: `dg-doc-${i}` });
    return h("div", { class: "check" }, box, h("label", { for: box.id }, `${f.filename} (${f.id})`));
  });
  const perChunk = h("input", { type: "number", min: 1, max: 20, value: 5 });
  const language = select([["zh-TW", "繁體中文 (zh-TW)"], ["en", "English"]], "zh-TW");
  const threshold = h("input", { type: "number", min: 0, max: 5, step: 0.5, value: 3 });
  const teacher = h("input", { type: "text", placeholder: t("data.teacherDefault") });
  const out = messages();
  const start = button(t("data.generate"), () =>
    busy(start, out, async () => {
      const documents = boxes.map((b) => b.querySelector("input")).filter((b) => b.checked).map((b) => b.value);
      const body = { file_ids: documents, questions_per_chunk: Number(perChunk.value), language: language.value, min_score: Number(threshold.value) };
      if (teacher.value.trim()) body.teacher = { model: teacher.value.trim() };
      const job = await post("/v1/datagen/jobs", body);
      ctx.go("data", { datagen: job.id });
    }),
    "primary",
  );
  return section(
    t("data.datagenTitle"),
    h("p", { class: "hint" }, t("data.datagenHint")),
    h("fieldset", {}, h("legend", {}, t("data.documents")), boxes.length ? boxes : h("p", {}, t("data.noDocs"))),
    h("details", {}, h("summary", {}, t("train.advanced")), h("div", { class: "row" },
      field(t("data.perChunk"), perChunk), field(t("data.language"), language), field(t("data.threshold"), threshold), field(t("data.teacher"), teacher))),
    start,
    out,
  );
}

function followDatagen(id, review, ctx) {
  const out = messages();
  const status = h("div");
  clear(review, section(`${t("data.datagenJob")} ${id}`, status, out));
  const events = eventFeed(`/v1/datagen/jobs/${id}`);
  poll(ctx.signal, 1500, async () => {
    const job = await get(`/v1/datagen/jobs/${id}`);
    clear(status, statusBadge(job.status), FINISHED.has(job.status) ? null : jobProgress(await events()),
      job.error ? h("p", { class: "error", role: "alert" }, job.error.message) : null);
    if (job.status === "succeeded") {
      review.append(await reviewPairs(id, ctx));
    }
    return FINISHED.has(job.status);
  }, (err) => out.error(err));
}

// The job's pairs as the API keeps them: every edit, confirmation and drop is saved at once
// (nothing is lost on reload); "use as dataset" builds a training file from what was kept.
async function reviewPairs(jobId, ctx) {
  const listed = await get(`/v1/datagen/jobs/${jobId}/pairs`);
  const out = messages();
  const counts = h("p", { class: "hint", "data-testid": "review-counts" });
  const showCounts = (c) => (counts.textContent = t("data.reviewCounts", c));
  showCounts(listed.counts);
  const save = async (pair, change) => {
    try {
      const saved = await api("PATCH", `/v1/datagen/jobs/${jobId}/pairs/${pair.id}`, change);
      Object.assign(pair, saved);
      showCounts((await get(`/v1/datagen/jobs/${jobId}/pairs`)).counts);
    } catch (err) {
      out.error(err);
    }
  };
  const body = h("tbody");
  listed.data.forEach((pair, i) => {
    const q = h("textarea", { rows: 2, "aria-label": `${t("data.question")} ${i + 1}` }, pair.question);
    const a = h("textarea", { rows: 3, "aria-label": `${t("data.answer")} ${i + 1}` }, pair.answer);
    q.addEventListener("change", () => save(pair, { question: q.value }));
    a.addEventListener("change", () => save(pair, { answer: a.value }));
    const check = (name, checked) => {
      const box = h("input", { type: "checkbox", id: `${name}-${i}` });
      box.checked = checked;
      box.addEventListener("change", () => save(pair, { [name]: box.checked }));
      return h("div", { class: "check" }, box, h("label", { for: box.id }, t(`data.${name}`)));
    };
    const score = pair.score === null ? "—" : Number(pair.score).toFixed(1);
    body.append(h("tr", {}, h("td", {}, q), h("td", {}, a), h("td", {}, score),
      h("td", {}, pair.split), h("td", {}, check("confirmed", pair.confirmed), check("dropped", pair.dropped))));
  });
  const onlyConfirmed = h("input", { type: "checkbox", id: "only-confirmed" });
  const build = button(t("data.buildDataset"), () =>
    busy(build, out, async () => {
      const file = await post(`/v1/datagen/jobs/${jobId}/dataset`, { split: "train", confirmed_only: onlyConfirmed.checked });
      out.info(`${t("data.built")} ${file.filename} (${file.id})`);
      ctx.go("train", { dataset: file.id });
    }),
    "primary",
  );
  return section(
    t("data.reviewTitle"),
    h("p", { class: "hint" }, t("data.reviewHint")),
    counts,
    h("table", { class: "review" }, h("thead", {}, h("tr", {},
      [t("data.question"), t("data.answer"), t("data.score"), t("data.split"), t("data.review")].map((x) => h("th", { scope: "col" }, x)))), body),
    h("div", { class: "check" }, onlyConfirmed, h("label", { for: onlyConfirmed.id }, t("data.onlyConfirmed"))),
    build,
    out,
  );
}
