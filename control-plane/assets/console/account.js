// The person's own account: email and its verification, change email,
// change password, sessions per device (the current one marked, any other
// ended at once), and their workspaces.

import { get, post, del, sectionUrl } from "./client.js";
import { h, card, field, form, button, dialog, say, table, when, badge } from "./dom.js";

// A card saying why its part could not be shown.
function failed(title, error) {
  return card(title, h("p", { class: "alert", role: "alert", text: error.message }));
}

export async function render(ctx, root) {
  let me;
  try {
    me = await get("/account");
  } catch (e) {
    root.append(failed("Email", e));
  }
  if (me) root.append(card("Email", h("dl", { class: "facts" },
    h("dt", { text: "Email" }), h("dd", { "data-fact": "email", text: me.email }),
    h("dt", { text: "Verified" }), h("dd", {}, me.email_verified ? badge("verified", "ok") : badge("not verified", "bad")),
    me.pending_email ? [h("dt", { text: "Changing to" }), h("dd", { text: `${me.pending_email} (waiting for the link in that inbox)` })] : null,
    h("dt", { text: "Member since" }), h("dd", { text: when(me.created_at) })),
  me.email_verified ? null : h("p", {}, button("Send a new verification link", async () => {
    await post("/account/verification");
    say(`A new verification link was sent to ${me.email}. Earlier links no longer work.`);
  }, { class: "secondary" }))));

  const email = field("New email", { type: "email", name: "email", autocomplete: "email", required: true });
  const emailPassword = field("Current password", { type: "password", name: "current_password", autocomplete: "current-password", required: true });
  root.append(card("Change email",
    form({ "aria-label": "Change email" }, [email.wrap, emailPassword.wrap, h("button", { type: "submit", text: "Send verification link" })], async () => {
      const address = email.input.value.trim();
      await post("/account/email", { email: address, current_password: emailPassword.input.value });
      emailPassword.input.value = "";
      await ctx.redraw();
      say(`A link was sent to ${address}. Your email changes when you open it.`);
    })));

  const current = field("Current password", { type: "password", name: "current_password", autocomplete: "current-password", required: true });
  const next = field("New password", { type: "password", name: "new_password", autocomplete: "new-password", minlength: "10", required: true });
  root.append(card("Change password",
    form({ "aria-label": "Change password" }, [current.wrap, next.wrap, h("button", { type: "submit", text: "Change password" })], async () => {
      await post("/account/password", { current_password: current.input.value, new_password: next.input.value });
      await ctx.redraw();
      say("Password changed. Your other sessions were ended.");
    })));

  try {
    root.append(await sessions(ctx));
  } catch (e) {
    root.append(failed("Sessions", e));
  }

  const rows = (ctx.me.workspaces || []).map((w) => [
    h("a", { href: sectionUrl(w.id, "overview"), text: w.name }),
    w.kind === "personal" ? "Personal" : "Team", badge(w.role),
  ]);
  root.append(card("Your workspaces", table("Your workspaces", ["Workspace", "Kind", "Role"], rows, "No workspaces.")));
}

async function sessions(ctx) {
  const section = card("Sessions");
  section.append(h("p", { class: "muted", text: "Every device you are signed in on. Ending a session signs that device out at once." }));
  const { sessions: list } = await get("/account/sessions");
  const rows = list.map((s) => [
    h("span", {}, s.user_agent || "Unknown device", s.current ? [" ", badge("this device", "ok")] : null),
    s.client_ip || "—",
    h("span", { text: when(s.created_at) }),
    when(s.last_seen_at),
    s.current ? h("span", { class: "muted", text: "Current" }) : button("End", async () => {
      const done = await dialog({
        title: "End this session?",
        body: h("p", { text: `${s.user_agent || "That device"} (${s.client_ip || "unknown address"}) is signed out at once.` }),
        ok: "End session",
        danger: true,
        onOk: () => del(`/account/sessions/${encodeURIComponent(s.id)}`),
      });
      if (done) { await ctx.redraw(); say("The session was ended."); }
    }, { class: "danger small", "data-session": s.id }),
  ]);
  section.append(table("Sessions", ["Device", "Address", { label: "Signed in", optional: true }, "Last seen", ""], rows,
    "No sessions."));
  return section;
}
