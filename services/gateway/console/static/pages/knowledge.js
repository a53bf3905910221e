// Knowledge bases: create one, add documents (an ingest job with progress), hit testing
// with top-k and a threshold, and chat with citations.
import { FINISHED, eventFeed, get, listAll, post, uploadFile, chatModels } from "../api.js";
import { t } from "../i18n.js";
import {
  busy, button, clear, field, h, jobProgress, messages, poll, section, select, statusBadge, table,
} from "../ui.js";

export async function render(root, ctx) {
  const kbs = await listAll("/v1/knowledge_bases");
  root.append(createForm(ctx), section(
    t("kb.list"),
    kbs.length
      ? table(
          [t("col.id"), t("col.name"), t("kb.documents"), t("kb.chunks"), ""],
          kbs.map((kb) => [kb.id, kb.name, kb.n_documents, kb.n_chunks, button(t("kb.open"), () => ctx.go("knowledge", { id: kb.id }))]),
        )
      : h("p", {}, t("kb.none")),
  ));
  const chosen = kbs.find((kb) => kb.id === ctx.params.id);
  if (chosen) {
    const models = (await chatModels()).map((m) => m.id);
    root.append(documents(chosen, ctx), hitTesting(chosen), chat(chosen, models));
  }
}

function createForm(ctx) {
  const name = h("input", { type: "text", required: true, maxlength: 200 });
  const description = h("input", { type: "text", maxlength: 2000 });
  const out = messages();
  const create = button(t("kb.create"), () =>
    busy(create, out, async () => {
      const kb = await post("/v1/knowledge_bases", { name: name.value.trim(), description: description.value });
      ctx.go("knowledge", { id: kb.id });
    }),
    "primary",
  );
  return section(t("kb.new"), h("div", { class: "row" }, field(t("col.name"), name), field(t("kb.description"), description)), create, out);
}

function documents(kb, ctx) {
  const files = h("input", { type: "file", multiple: true, accept: ".pdf,.docx,.md,.txt,.html" });
  const out = messages();
  const status = h("div");
  const add = button(t("kb.add"), () =>
    busy(add, out, async () => {
      if (!files.files.length) throw new Error(t("data.pickFiles"));
      const ids = [];
      for (const f of files.files) ids.push((await uploadFile(f, "knowledge")).id);
      const job = await post(`/v1/knowledge_bases/${kb.id}/documents`, { file_ids: ids });
      const events = eventFeed(`/v1/knowledge_bases/ingest_jobs/${job.id}`);
      poll(ctx.signal, 1000, async () => {
        const j = await get(`/v1/knowledge_bases/ingest_jobs/${job.id}`);
        clear(status, statusBadge(j.status), FINISHED.has(j.status) ? null : jobProgress(await events()),
          j.error ? h("p", { class: "error", role: "alert" }, j.error.message) : null, ingestSummary(j.result));
        return FINISHED.has(j.status);
      }, (err) => out.error(err));
    }),
  );
  return section(`${kb.name} (${kb.id})`, h("p", {}, `${t("kb.documents")}: ${kb.n_documents} · ${t("kb.chunks")}: ${kb.n_chunks}`),
    field(t("kb.files"), files), add, status, out);
}

// What an ingest did: chunks added, and each document that could not be read, with why.
function ingestSummary(result) {
  if (!result) return null;
  const failed = (result.documents || []).filter((d) => d.error);
  return h(
    "div",
    {},
    h("p", {}, t("kb.added", { n: result.n_chunks_added ?? 0, total: result.totals?.n_chunks ?? "?" })),
    failed.length ? h("ul", {}, failed.map((d) => h("li", { class: "error" }, d.error))) : null,
  );
}

function hitTesting(kb) {
  const query = h("input", { type: "search" });
  const topK = h("input", { type: "number", min: 1, max: 100, value: kb.top_k });
  const threshold = h("input", { type: "number", min: 0, max: 1, step: 0.05, value: kb.score_threshold });
  const results = h("ol", { class: "hits" });
  const out = messages();
  const search = button(t("kb.search"), () =>
    busy(search, out, async () => {
      const hits = (await post(`/v1/knowledge_bases/${kb.id}/search`, {
        query: query.value, top_k: Number(topK.value), score_threshold: Number(threshold.value),
      })).data;
      clear(results, hits.length ? hits.map(hitItem) : h("li", {}, t("kb.noHits")));
    }),
  );
  return section(t("kb.hitTesting"), h("div", { class: "row" }, field(t("kb.query"), query), field("top-k", topK), field(t("kb.threshold"), threshold)), search, out, results);
}

function where(source) {
  const parts = [source.document];
  if (source.page) parts.push(`p. ${source.page}`);
  if (source.heading_path?.length) parts.push(source.heading_path.join(" > "));
  return parts.join(" · ");
}

function hitItem(hit) {
  return h("li", {}, h("p", {}, h("strong", {}, hit.score.toFixed(3)), " ", where(hit.source)), h("blockquote", {}, hit.text));
}

function chat(kb, models) {
  const model = select(models);
  const question = h("textarea", { rows: 2 });
  const answer = h("div", { class: "chat-answer", "aria-live": "polite" });
  const out = messages();
  const ask = button(t("kb.ask"), () =>
    busy(ask, out, async () => {
      const reply = await post("/v1/chat/completions", {
        model: model.value, messages: [{ role: "user", content: question.value }], knowledge_base: kb.id, max_tokens: 256,
      });
      const sources = reply.sources || [];
      clear(answer, h("p", {}, reply.choices[0].message.content),
        sources.length ? h("ol", { class: "citations", "aria-label": t("kb.citations") },
          sources.map((s) => h("li", { value: s.index }, `${where(s)} (${s.score.toFixed(2)})`, h("blockquote", {}, s.text)))) : null);
    }),
  );
  return section(t("kb.chat"), field(t("col.model"), model), field(t("kb.question"), question), ask, out, answer);
}
