// Billing (owners): plan, seats, the subscription's standing (dunning),
// invoices, and the way to Stripe Checkout and the billing portal. When
// billing is off on this server, that is said plainly.

import { get, post } from "./client.js";
import { h, card, button, table, when, badge } from "./dom.js";

const STANDING = { good: ["in good standing", "ok"], past_due: ["payment past due", "bad"], lapsed: ["lapsed", "bad"] };

function money(cents, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: (currency || "usd").toUpperCase() }).format(cents / 100);
  } catch (_) {
    return `${(cents / 100).toFixed(2)} ${currency || ""}`;
  }
}

// Only web links are followed (never a `javascript:` one from data).
function web(url) {
  return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null;
}

export async function render(ctx, root) {
  const id = encodeURIComponent(ctx.workspace.id);
  const b = await get(`/workspaces/${id}/billing`);
  const sub = b.subscription;
  const standing = sub && sub.standing ? STANDING[sub.standing] : null;
  root.append(card("Plan and seats", h("dl", { class: "facts" },
    h("dt", { text: "Plan" }), h("dd", { "data-fact": "plan", text: b.plan }),
    h("dt", { text: "Workspace" }), h("dd", {}, b.status === "suspended" ? badge("suspended · read-only", "bad") : badge("active", "ok")),
    h("dt", { text: "Seats" }), h("dd", { text: `${b.seats.members} member${b.seats.members === 1 ? "" : "s"}${b.seats.subscribed ? `, ${b.seats.subscribed} subscribed` : ""}` }),
    h("dt", { text: "Subscription" }), h("dd", {}, sub && sub.status ? badge(sub.status, standing && standing[1]) : h("span", { text: "None" })),
    standing ? [h("dt", { text: "Standing" }), h("dd", { "data-fact": "standing", text: standing[0] })] : null,
    sub && sub.grace_until ? [h("dt", { text: "Read-only from" }), h("dd", { text: new Date(sub.grace_until).toLocaleString() })] : null,
    sub && sub.period_end ? [h("dt", { text: "Period ends" }), h("dd", { text: new Date(sub.period_end).toLocaleString() })] : null)));

  if (!b.billing_enabled) {
    root.append(h("section", { class: "card", "aria-labelledby": "billing-off" },
      h("h2", { id: "billing-off", text: "Billing is off" }),
      h("p", { "data-notice": "", text: b.notice || "Billing is off on this server." })));
  } else {
    const go = (path) => async () => {
      const answer = await post(`/workspaces/${id}/billing/${path}`);
      const url = web(answer.session && answer.session.url);
      if (!url) throw new Error("Stripe did not give a page to go to. Try again.");
      window.location.assign(url);
    };
    const subscribed = standing && sub.standing !== "lapsed";
    root.append(card("Payment",
      h("p", { text: subscribed ? "Change the payment method, see invoices or cancel in Stripe's billing portal."
        : "Start a subscription with Stripe Checkout: one seat per member." }),
      h("div", { class: "row-actions" },
        subscribed ? null : button("Subscribe with Stripe Checkout", go("checkout")),
        button("Open the billing portal", go("portal"), { class: "secondary" }))));
  }

  const rows = b.invoices.map((i) => [
    i.number || i.id, badge(i.status, i.status === "paid" ? "ok" : i.status === "open" ? "bad" : undefined),
    money(i.amount_due, i.currency), money(i.amount_paid, i.currency), when(i.created),
    web(i.hosted_invoice_url) ? h("a", { href: web(i.hosted_invoice_url), rel: "noopener noreferrer", target: "_blank", text: "View" }) : "—",
  ]);
  root.append(card("Invoices", table("Invoices", ["Invoice", "Status", "Due", "Paid", "Date", ""], rows, "No invoices yet.")));
}
