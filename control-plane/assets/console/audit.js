// The audit log: filters the API supports (actor, action, since, until),
// pages by cursor (oldest first, as the API pages: next, and back), and an
// NDJSON export of the same rows.

import { get } from "./client.js";
import { h, card, field, form, button, table, when, badge } from "./dom.js";

const PAGE = 25;

export async function render(ctx, root) {
  const id = encodeURIComponent(ctx.workspace.id);
  const actor = field("Actor id", { name: "actor", autocomplete: "off" });
  const action = field("Action", { name: "action", placeholder: "e.g. member.invited", autocomplete: "off" });
  const since = field("Since", { type: "datetime-local", name: "since" });
  const until = field("Until", { type: "datetime-local", name: "until" });
  const exportLink = h("a", { class: "export", download: "audit.ndjson", text: "Export (NDJSON)" });
  const results = h("div", { "aria-live": "polite" });
  const cursors = [null];

  const query = () => {
    const q = new URLSearchParams();
    if (actor.input.value.trim()) q.set("actor", actor.input.value.trim());
    if (action.input.value.trim()) q.set("action", action.input.value.trim());
    if (since.input.value) q.set("since", String(Math.floor(new Date(since.input.value).getTime() / 1000)));
    if (until.input.value) q.set("until", String(Math.floor(new Date(until.input.value).getTime() / 1000)));
    return q;
  };

  const load = async () => {
    const q = query();
    exportLink.href = `/.wrnexus/api/v1/workspaces/${id}/audit/export?${q}`;
    q.set("limit", String(PAGE));
    const cursor = cursors[cursors.length - 1];
    if (cursor) q.set("cursor", cursor);
    const page = await get(`/workspaces/${id}/audit?${q}`);
    const rows = page.entries.map((e) => [
      when(e.at),
      h("span", { text: e.actor_id ? `${e.actor_kind} ${e.actor_id}` : e.actor_kind }),
      h("code", { text: e.action }),
      h("span", { class: "optional", text: e.target || "—" }),
      badge(e.outcome, e.outcome === "success" ? "ok" : "bad"),
    ]);
    const pager = h("div", { class: "pager" },
      h("span", { class: "muted", text: `Page ${cursors.length}` }),
      cursors.length > 1 ? button("Previous page", async () => { cursors.pop(); await load(); }, { class: "secondary small" }) : null,
      page.next_cursor ? button("Next page", async () => { cursors.push(page.next_cursor); await load(); }, { class: "secondary small" }) : null);
    results.replaceChildren(
      table("Audit log", ["Time", "Actor", "Action", { label: "Target", optional: true }, "Outcome"], rows,
        "No entries match."),
      pager);
  };

  root.append(card("Filters",
    form({ "aria-label": "Filter the audit log" },
      [actor.wrap, action.wrap, since.wrap, until.wrap, h("button", { type: "submit", text: "Apply" })],
      async () => { cursors.splice(1); await load(); }),
    h("p", {}, exportLink)));
  root.append(card("Entries", results));
  await load();
}
