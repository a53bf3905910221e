// The console's shell: log-in with a pasted key, navigation between pages (hash routes,
// so the gateway serves one HTML file), the language switch.
import { clearKey, get, getKey, setKey } from "./api.js";
import { getLang, LANGS, setLang, t } from "./i18n.js";
import { busy, button, clear, field, h, messages, select } from "./ui.js";

const PAGES = {
  data: () => import("./pages/data.js"),
  train: () => import("./pages/train.js"),
  evaluate: () => import("./pages/evaluate.js"),
  compare: () => import("./pages/compare.js"),
  models: () => import("./pages/models.js"),
  knowledge: () => import("./pages/knowledge.js"),
};
const header = document.getElementById("top");
const main = document.getElementById("main");
let leaving = new AbortController();

// "#/train?job=ftjob-1" → ["train", {job: "ftjob-1"}]
function route() {
  const [path, q] = location.hash.replace(/^#\/?/, "").split("?");
  const name = path in PAGES ? path : "data";
  return [name, Object.fromEntries(new URLSearchParams(q || ""))];
}

export function go(page, params = {}) {
  const q = new URLSearchParams(params).toString();
  location.hash = `#/${page}${q ? `?${q}` : ""}`;
}

function renderHeader(current) {
  const lang = select(LANGS.map((l) => [l, t(`lang.${l}`)]), getLang());
  lang.addEventListener("change", () => {
    setLang(lang.value);
    render();
  });
  const nav = h(
    "nav",
    { "aria-label": t("nav.label") },
    Object.keys(PAGES).map((name) =>
      h("a", { href: `#/${name}`, "aria-current": name === current ? "page" : null }, t(`nav.${name}`)),
    ),
  );
  clear(
    header,
    h("div", { class: "brand" }, "Tuneloop"),
    getKey() ? nav : null,
    h("div", { class: "tools" }, field(t("language"), lang), getKey() ? button(t("logout"), logout) : null),
  );
}

function logout() {
  clearKey();
  render();
}

function renderLogin() {
  const key = h("input", { type: "password", autocomplete: "off", placeholder: "tl-…", required: true });
  const remember = h("input", { type: "checkbox" });
  const out = messages();
  const submit = h("button", { type: "submit" }, t("login.submit"));
  const form = h(
    "form",
    { class: "card login" },
    h("h1", {}, t("login.title")),
    h("p", {}, t("login.intro")),
    field(t("login.key"), key),
    h("div", { class: "check" }, remember, h("label", { for: (remember.id = "remember") }, t("login.remember"))),
    submit,
    out,
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    busy(submit, out, async () => {
      setKey(key.value.trim(), remember.checked);
      try {
        await get("/v1/models"); // checks the key before showing any page
      } catch (err) {
        clearKey();
        throw err;
      }
      render();
    });
  });
  clear(main, form);
  key.focus();
}

async function render() {
  leaving.abort();
  leaving = new AbortController();
  document.documentElement.lang = getLang();
  document.title = t("title");
  const [name, params] = route();
  renderHeader(name);
  if (!getKey()) return renderLogin();
  const page = h("div", { class: "page", "data-page": name });
  clear(main, h("h1", {}, t(`nav.${name}`)), page);
  try {
    const module = await PAGES[name]();
    await module.render(page, { signal: leaving.signal, params, go });
  } catch (err) {
    const out = messages();
    page.append(out);
    out.error(err);
  }
}

window.addEventListener("hashchange", render);
render();
