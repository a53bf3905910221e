// Models: base models and their adapters (lineage: base → training job → epochs), and how
// to use one from the OpenAI SDK, Open WebUI or AnythingLLM.
import { chatModels } from "../api.js";
import { t } from "../i18n.js";
import { clear, copyButton, field, h, section, select } from "../ui.js";

export async function render(root) {
  const models = await chatModels();
  root.append(lineage(models), usage(models));
}

function lineage(models) {
  const bases = models.filter((m) => !m.parent);
  const children = (base) => models.filter((m) => m.parent === base.id);
  const byJob = (adapters) => {
    const groups = new Map();
    for (const a of adapters) {
      const key = a.job_id || "—";
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(a);
    }
    return [...groups.entries()];
  };
  const adapterLine = (a) =>
    h("li", {}, h("code", {}, a.id), a.epoch ? ` · ${t("train.epoch")} ${a.epoch}` : ` · ${t("models.final")}`);
  return section(
    t("models.lineage"),
    h(
      "ul",
      { class: "tree" },
      bases.map((b) =>
        h(
          "li",
          {},
          h("strong", {}, b.id), ` (${t("models.base")}${b.context_length ? `, ${b.context_length} ${t("models.context")}` : ""})`,
          h(
            "ul",
            {},
            byJob(children(b)).map(([job, adapters]) =>
              h("li", {}, `${t("models.job")} ${job}`, h("ul", {}, adapters.map(adapterLine))),
            ),
          ),
        ),
      ),
    ),
  );
}

function snippets(base, model) {
  return {
    sdk: `from openai import OpenAI

client = OpenAI(base_url="${base}", api_key="<your key>")
reply = client.chat.completions.create(
    model="${model}",
    messages=[{"role": "user", "content": "公文的「主旨」應該怎麼寫？"}],
)
print(reply.choices[0].message.content)`,
    curl: `curl ${base}/chat/completions \\
  -H "Authorization: Bearer $TUNELOOP_KEY" -H "Content-Type: application/json" \\
  -d '{"model": "${model}", "messages": [{"role": "user", "content": "hello"}]}'`,
    openwebui: t("models.openwebui", { base, model }),
    anythingllm: t("models.anythingllm", { base, model }),
  };
}

function usage(models) {
  const base = `${location.origin}/v1`;
  const choice = select(models.map((m) => m.id));
  const body = h("div");
  const show = () => {
    const s = snippets(base, choice.value);
    clear(
      body,
      h("p", {}, `${t("models.baseUrl")}: `, h("code", { "data-testid": "base-url" }, base), " · ", `${t("models.name")}: `, h("code", {}, choice.value)),
      ...Object.entries(s).map(([k, text]) =>
        h("div", { class: "snippet" }, h("h3", {}, t(`models.${k}Title`)), h("pre", {}, h("code", {}, text)), copyButton(() => text)),
      ),
    );
  };
  choice.addEventListener("change", show);
  show();
  return section(t("models.use"), field(t("models.pick"), choice), body);
}
