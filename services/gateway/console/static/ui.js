// Small DOM helpers shared by the pages: element building, labelled fields, messages,
// progress and polling that stops when the page is left.
import { t } from "./i18n.js";

let nextId = 0;

// h("button", {onclick, class: "x"}, "text", child…): attributes, events and children.
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// A control with its visible <label for>, so screen readers and tests find the name.
export function field(label, control, hint) {
  if (!control.id) control.id = `f${++nextId}`;
  return h(
    "div",
    { class: "field" },
    h("label", { for: control.id }, label),
    control,
    hint ? h("small", { class: "hint" }, hint) : null,
  );
}

export function select(options, value) {
  const el = h("select");
  for (const o of options) {
    const [v, text] = Array.isArray(o) ? o : [o, o];
    el.append(h("option", { value: v }, text));
  }
  if (value !== undefined) el.value = value;
  return el;
}

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), ...children);
}

// A live region for one area's outcome: errors show the API's own message.
export function messages() {
  const el = h("div", { class: "messages", role: "status", "aria-live": "polite" });
  el.error = (err) =>
    clear(el, h("p", { class: "error", role: "alert" }, `${t("error")}: ${err.message || err}`));
  el.info = (text) => clear(el, h("p", { class: "info" }, text));
  el.reset = () => clear(el);
  return el;
}

// Runs `work` with the button disabled; failures land in `out` instead of vanishing.
export async function busy(button, out, work) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    out?.reset();
    return await work();
  } catch (err) {
    if (out) out.error(err);
    else throw err;
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

export function button(text, onclick, cls) {
  return h("button", { type: "button", onclick, class: cls }, text);
}

export function progress(label, fraction) {
  const bar = h("progress", { max: 1, "aria-label": label });
  if (fraction !== undefined && fraction !== null) bar.value = fraction;
  return h("div", { class: "progress" }, bar, h("span", {}, label));
}

export function statusBadge(status) {
  return h("span", { class: `badge status-${status}` }, t(`status.${status}`, {}, status));
}

export function table(headers, rows) {
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))),
  );
}

// Repeats `step` every `ms` until it returns true, throws, or the page's signal aborts.
export function poll(signal, ms, step, onError) {
  let timer;
  const tick = async () => {
    if (signal.aborted) return;
    try {
      if (await step()) return;
    } catch (err) {
      if (onError) onError(err);
      else return;
    }
    if (!signal.aborted) timer = setTimeout(tick, ms);
  };
  signal.addEventListener("abort", () => clearTimeout(timer));
  tick();
}

export function when(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleString() : "";
}

export function copyButton(getText) {
  const b = button(t("copy"), async () => {
    const text = getText();
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Clipboard API refused (plain http on another host): select the text instead.
      const area = h("textarea", { "aria-label": t("copy") }, text);
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    b.textContent = t("copied");
    setTimeout(() => (b.textContent = t("copy")), 1500);
  });
  return b;
}

// A job's progress from its events: the last `progress` event as a bar with its live count
// for a label ("answers 12/68 for epoch 2"), and any later message beside it; before the
// first count, an indeterminate bar with the last message.
export function jobProgress(events) {
  const last = events[events.length - 1];
  const counted = [...events].reverse().find((e) => e.type === "progress" && e.data?.total > 0);
  let el;
  if (!counted) {
    el = progress(last ? last.message : t("train.working"));
  } else {
    const { stage, done = 0, total } = counted.data; // a count of 0 is left out of `data`
    el = progress(counted.message || `${stage}: ${done}/${total}`, Math.min(1, done / total));
    if (last !== counted && last.message) el.append(h("small", { class: "hint" }, last.message));
  }
  el.setAttribute("data-testid", "job-progress");
  return el;
}
