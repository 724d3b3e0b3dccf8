// Webhooks: endpoints (create with the signing secret shown once, send a
// test event, remove) and the delivery log.

import { get, post, del } from "./client.js";
import { h, card, field, form, button, dialog, say, table, when, badge, secretBox } from "./dom.js";

const STATES = { delivered: "ok", dead: "bad" };

export async function render(ctx, root) {
  const id = encodeURIComponent(ctx.workspace.id);
  const [{ webhooks }, { deliveries }] = await Promise.all([
    get(`/workspaces/${id}/webhooks`),
    get(`/workspaces/${id}/webhooks/deliveries?limit=50`),
  ]);
  if (ctx.allowed.manage_webhooks) {
    const url = field("Endpoint URL", { type: "url", name: "url", placeholder: "https://example.com/hooks", required: true, autocomplete: "off" });
    const types = field("Event types", { name: "event_types", value: "*", "aria-describedby": "types-hint" });
    const description = field("Description", { name: "description", autocomplete: "off" });
    root.append(card("New endpoint",
      form({ "aria-label": "Add a webhook endpoint" }, [url.wrap, types.wrap, description.wrap, h("button", { type: "submit", text: "Add endpoint" })], async () => {
        const created = await post(`/workspaces/${id}/webhooks`, {
          url: url.input.value.trim(),
          event_types: types.input.value.split(",").map((t) => t.trim()).filter(Boolean),
          description: description.input.value.trim(),
        });
        await ctx.redraw();
        document.getElementById("new-webhook-secret").replaceChildren(
          secretBox("Signing secret", created.webhook.secret));
        say("Endpoint added. Copy its signing secret now: it is not shown again.");
      }),
      h("p", { id: "types-hint", class: "muted", text: "Comma-separated event types, or * for every event." }),
      h("div", { id: "new-webhook-secret" })));
  }
  const rows = webhooks.map((w) => {
    const actions = h("div", { class: "row-actions" });
    if (ctx.allowed.manage_webhooks) {
      actions.append(
        button("Send test", async () => {
          const queued = await post(`/workspaces/${id}/webhooks/${encodeURIComponent(w.id)}/test`);
          say(`Test event ${queued.event_id} queued for ${w.url}.`);
        }, { class: "secondary small" }),
        button("Remove", async () => {
          const done = await dialog({
            title: "Remove this endpoint?",
            body: h("p", { text: `${w.url} receives no more events.` }),
            ok: "Remove",
            danger: true,
            onOk: () => del(`/workspaces/${id}/webhooks/${encodeURIComponent(w.id)}`),
          });
          if (done) { await ctx.redraw(); say("Endpoint removed."); }
        }, { class: "danger small" }));
    }
    return [h("code", { text: w.url }), w.event_types.join(", "), h("span", { text: w.description || "—" }), when(w.created_at), actions];
  });
  root.append(card(`Endpoints (${webhooks.length})`,
    table("Webhook endpoints", ["URL", "Events", { label: "Description", optional: true }, "Created", ""], rows,
      "No endpoints yet.")));
  const log = deliveries.map((d) => [
    when(d.created_at), d.event_type, badge(d.status, STATES[d.status]), String(d.attempts),
    d.last_status ? String(d.last_status) : (d.last_error || "—"), when(d.next_attempt_at),
  ]);
  root.append(card("Delivery log",
    button("Refresh", () => ctx.redraw(), { class: "secondary small" }),
    table("Webhook deliveries", ["Queued", "Event", "State", "Attempts", "Last answer", { label: "Next attempt", optional: true }],
      log, "Nothing delivered yet.")));
}
