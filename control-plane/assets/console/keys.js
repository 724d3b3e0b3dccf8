// API keys: create (the secret is shown once, with a copy button), the
// list with last use, and revoke.

import { get, post, del } from "./client.js";
import { h, card, field, select, form, button, dialog, say, table, when, badge, secretBox } from "./dom.js";

const ORDER = ["viewer", "member", "admin", "owner"];
const EXPIRY = [["", "Never"], ["30", "In 30 days"], ["90", "In 90 days"], ["365", "In a year"]];

export async function render(ctx, root) {
  const id = encodeURIComponent(ctx.workspace.id);
  const { api_keys: keys } = await get(`/workspaces/${id}/api-keys`);
  if (ctx.allowed.manage_keys) {
    const name = field("Key name", { name: "name", maxlength: "100", required: true, autocomplete: "off" });
    const ceilings = ORDER.slice(0, ORDER.indexOf(ctx.role) + 1).map((r) => [r, r]);
    const ceiling = select("Role ceiling", "role_ceiling", ceilings, "member");
    ceiling.wrap.className = "field narrow";
    const expiry = select("Expires", "expires", EXPIRY, "");
    expiry.wrap.className = "field narrow";
    const shown = h("div", { id: "new-secret" });
    root.append(card("New API key",
      form({ "aria-label": "Create an API key" }, [name.wrap, ceiling.wrap, expiry.wrap, h("button", { type: "submit", text: "Create key" })], async () => {
        const days = Number(expiry.input.value);
        const body = { name: name.input.value.trim(), role_ceiling: ceiling.input.value };
        if (days) body.expires_at = Math.floor(Date.now() / 1000) + days * 86400;
        const created = await post(`/workspaces/${id}/api-keys`, body);
        await ctx.redraw();
        const box = document.getElementById("new-secret");
        box.replaceChildren(secretBox(`Secret of ${created.api_key.name}`, created.secret));
        say(`Key ${created.api_key.name} created. Copy its secret now: it is not shown again.`);
        box.querySelector("button").focus();
      }), shown));
  }
  const rows = keys.map((k) => {
    const revoked = Boolean(k.revoked_at);
    const expired = k.expires_at && k.expires_at * 1000 < Date.now();
    const state = revoked ? badge("revoked", "bad") : expired ? badge("expired", "bad") : badge("active", "ok");
    const actions = h("div", { class: "row-actions" });
    if (ctx.allowed.manage_keys && !revoked) {
      actions.append(button("Revoke", async () => {
        const done = await dialog({
          title: `Revoke ${k.name}?`,
          body: h("p", { text: `Requests with ${k.prefix}_… are refused from now on, at every gateway.` }),
          ok: "Revoke",
          danger: true,
          onOk: () => del(`/workspaces/${id}/api-keys/${encodeURIComponent(k.id)}`),
        });
        if (done) { await ctx.redraw(); say(`Key ${k.name} revoked.`); }
      }, { class: "danger small" }));
    }
    return [k.name, h("code", { text: `${k.prefix}_…` }), k.role_ceiling, state,
      h("span", { text: when(k.created_at) }), k.last_used_at ? when(k.last_used_at) : "Never used",
      when(k.expires_at), actions];
  });
  root.append(card(`API keys (${keys.length})`,
    table("API keys", ["Name", "Key", "Ceiling", "State", { label: "Created", optional: true }, "Last used",
      { label: "Expires", optional: true }, ""], rows, "No API keys yet.")));
}
