// Small DOM helpers. Everything from data is set as text (textContent,
// attribute values), never parsed as HTML.

let uid = 0;

// An element: `props` sets attributes (`class`, `aria-*`, `data-*`, …),
// `text` the text, `on<event>` listeners; children are nodes or text.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") el.textContent = String(value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "value") el.value = value;
    else if (key === "checked" || key === "selected") el[key] = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const $ = (id) => document.getElementById(id);

// A result for screen readers and eyes (the polite status region).
export function say(message) {
  $("status").textContent = message || "";
}

// Show a refusal in the page's alert region (or the open dialog's).
export function showError(error) {
  const dialog = $("dialog");
  const box = dialog.open ? $("dialog-alert") : $("alert");
  box.textContent = (error && error.message) || String(error);
  box.hidden = false;
  if (!dialog.open) say("");
}

export function clearMessages() {
  $("alert").hidden = true;
  $("alert").textContent = "";
  say("");
}

// Where the focus goes when what had it went away (removed by a redraw, or
// left in a closed dialog): back to `el` if it is still there, else to the
// top of the page's content.
function refocus(el) {
  const at = document.activeElement;
  const lost = !at || at === document.body || !at.isConnected || at.closest("dialog:not([open])");
  if (!lost) return;
  if (el && el.isConnected) el.focus();
  else $("main").focus();
}

// A button running `action`; busy while it runs (it keeps the focus, so a
// dialog it opens gives the focus back to it), a failure shown.
export function button(label, action, props) {
  const el = h("button", { type: "button", ...(props || {}) }, label);
  el.addEventListener("click", async () => {
    if (el.getAttribute("aria-busy") === "true") return;
    el.setAttribute("aria-busy", "true");
    try {
      await action(el);
    } catch (e) {
      showError(e);
    } finally {
      el.removeAttribute("aria-busy");
      refocus(el);
    }
  });
  return el;
}

// A labelled control: { wrap, input }.
export function field(label, props, control = "input") {
  uid += 1;
  const id = `f${uid}`;
  const input = h(control, { id, ...props });
  const wrap = h("div", { class: props && props["data-narrow"] ? "field narrow" : "field" },
    h("label", { for: id, text: label }), input);
  return { wrap, input };
}

// A labelled <select> of `options` ([value, label] pairs).
export function select(label, name, options, chosen) {
  const { wrap, input } = field(label, { name }, "select");
  for (const [value, text] of options) {
    input.append(h("option", { value, selected: value === chosen }, text));
  }
  return { wrap, input };
}

// A form whose submit runs `action(form)`; busy while it runs, a failure shown.
export function form(props, children, action) {
  const el = h("form", { class: "inline", novalidate: true, ...(props || {}) }, children);
  el.addEventListener("submit", async (e) => {
    e.preventDefault();
    const submit = el.querySelector("button[type=submit]");
    if (submit && submit.disabled) return;
    if (submit) submit.disabled = true;
    try {
      await action(el);
    } catch (err) {
      showError(err);
    } finally {
      if (submit) submit.disabled = false;
      refocus(submit);
    }
  });
  return el;
}

// A table: `columns` are labels (or { label, optional }), `rows` arrays of
// cells (text or nodes); `empty` is said when there are no rows.
export function table(caption, columns, rows, empty) {
  if (!rows.length) return h("p", { class: "empty", text: empty });
  const cls = (c) => (typeof c === "object" && c.optional ? "optional" : undefined);
  const head = h("tr", {}, columns.map((c) => h("th", { scope: "col", class: cls(c), text: typeof c === "object" ? c.label : c })));
  const body = rows.map((cells) => h("tr", {}, cells.map((cell, i) => h("td", { class: cls(columns[i]) }, cell))));
  return h("div", { class: "table-wrap" },
    h("table", {}, h("caption", { class: "visually-hidden", text: caption }), h("thead", {}, head), h("tbody", {}, body)));
}

export function card(title, ...children) {
  uid += 1;
  const id = `c${uid}`;
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id, text: title }), children);
}

export function badge(text, kind) {
  return h("span", { class: kind ? `badge ${kind}` : "badge", text });
}

// Unix seconds as a local date and time; a dash for none.
export function when(secs) {
  if (secs === null || secs === undefined) return "—";
  const d = new Date(Number(secs) * 1000);
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

// A confirmation (or small form) in a modal dialog: focus moves into it,
// Escape and Cancel close it, the focus goes back to where it was. `onOk`
// may throw: its error shows inside the dialog, which stays open. Resolves
// to whether it was confirmed (and `onOk` succeeded).
export function dialog({ title, body, ok, danger, onOk }) {
  const box = $("dialog");
  const opener = document.activeElement;
  $("dialog-title").textContent = title;
  $("dialog-body").replaceChildren(...[].concat(body || []));
  $("dialog-alert").hidden = true;
  const okButton = $("dialog-ok");
  okButton.textContent = ok || "OK";
  okButton.className = danger ? "danger" : "";
  okButton.disabled = false;
  const formEl = $("dialog-form");
  return new Promise((resolve) => {
    const finish = (value) => {
      formEl.onsubmit = null;
      $("dialog-cancel").onclick = null;
      box.onclose = null;
      if (box.open) box.close();
      if (opener && opener.isConnected && typeof opener.focus === "function") opener.focus();
      resolve(value);
    };
    formEl.onsubmit = async (e) => {
      e.preventDefault();
      okButton.disabled = true;
      try {
        if (onOk) await onOk();
        finish(true);
      } catch (err) {
        $("dialog-alert").textContent = err.message || String(err);
        $("dialog-alert").hidden = false;
      } finally {
        okButton.disabled = false;
      }
    };
    $("dialog-cancel").onclick = () => finish(false);
    box.onclose = () => finish(false);
    box.showModal();
    const first = $("dialog-body").querySelector("input, select") || okButton;
    first.focus();
  });
}

// Copy `text` to the clipboard; says whether it worked.
export async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    say("Copied to the clipboard.");
  } catch (_) {
    say("Copying is not allowed here: select the text and copy it yourself.");
  }
}

// A secret shown once, with a copy button.
export function secretBox(label, secret) {
  const code = h("code", { "data-secret": "", text: secret });
  return h("div", { class: "secret", role: "group", "aria-label": label },
    h("strong", { text: `${label} (shown once — copy it now):` }), code,
    button("Copy", () => copy(secret), { class: "secondary small" }));
}
