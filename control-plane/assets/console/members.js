// Members and invitations: roles, project limits, removal, invitations by
// email with resend and revoke. Controls appear only where the caller's
// permissions allow; the API decides again and any refusal is shown.

import { get, patch, post, del } from "./client.js";
import { h, card, field, select, form, button, dialog, say, table, when, badge } from "./dom.js";

const ROLES = [["viewer", "Viewer"], ["member", "Member"], ["admin", "Admin"], ["owner", "Owner"]];

// The roles the caller may hand out (only an owner makes owners).
function grantable(ctx) {
  return ctx.role === "owner" ? ROLES : ROLES.filter(([r]) => r !== "owner");
}

export async function render(ctx, root) {
  const id = encodeURIComponent(ctx.workspace.id);
  const me = ctx.me.user && ctx.me.user.id;
  const [list, projectList] = await Promise.all([
    get(`/workspaces/${id}/members`),
    ctx.allowed.manage_members ? get(`/workspaces/${id}/projects`) : Promise.resolve({ projects: [] }),
  ]);
  const projects = projectList.projects || [];
  const manages = (m) => ctx.allowed.manage_members && m.user_id !== me
    && (m.role !== "owner" || ctx.role === "owner");

  const rows = list.members.map((m) => {
    const scope = m.projects ? `${m.projects.length} project${m.projects.length === 1 ? "" : "s"}` : "All projects";
    const who = h("span", {}, m.email, m.user_id === me ? h("span", { class: "muted", text: " (you)" }) : null);
    const actions = h("div", { class: "row-actions" });
    if (manages(m)) {
      const role = select(`Role of ${m.email}`, "role", grantable(ctx), m.role);
      role.wrap.className = "field narrow";
      role.wrap.querySelector("label").className = "visually-hidden";
      actions.append(role.wrap,
        button("Save role", async () => {
          await patch(`/workspaces/${id}/members/${encodeURIComponent(m.user_id)}`, { role: role.input.value });
          await ctx.redraw();
          say(`${m.email} is now ${role.input.value}.`);
        }, { class: "secondary small" }),
        button("Projects…", () => limitProjects(ctx, m, projects), { class: "secondary small" }),
        button("Remove", async () => {
          const done = await dialog({
            title: `Remove ${m.email}?`,
            body: h("p", { text: "They lose access at once; their API keys in this workspace are revoked." }),
            ok: "Remove",
            danger: true,
            onOk: () => del(`/workspaces/${id}/members/${encodeURIComponent(m.user_id)}`),
          });
          if (done) { await ctx.redraw(); say(`${m.email} was removed.`); }
        }, { class: "danger small" }));
    }
    return [who, badge(m.role), scope, actions];
  });
  root.append(card(`Members (${list.members.length})`,
    table("Members", ["Email", "Role", { label: "Projects", optional: true }, ""], rows, "No members.")));

  if (ctx.allowed.invite) {
    const email = field("Email", { type: "email", name: "email", autocomplete: "off", required: true });
    const role = select("Role", "role", grantable(ctx), "member");
    role.wrap.className = "field narrow";
    root.append(card("Invite by email",
      form({ "aria-label": "Invite someone" }, [email.wrap, role.wrap, h("button", { type: "submit", text: "Send invitation" })], async () => {
        const address = email.input.value.trim();
        await post(`/workspaces/${id}/invitations`, { email: address, role: role.input.value });
        email.input.value = "";
        await ctx.redraw();
        say(`Invitation sent to ${address}.`);
      })));
    root.append(await pending(ctx, id));
  }
}

// Pending invitations, with resend and revoke.
async function pending(ctx, id) {
  const section = card("Pending invitations");
  try {
    const { invitations } = await get(`/workspaces/${id}/invitations`);
    const rows = invitations.map((inv) => [
      inv.email,
      badge(inv.role),
      h("span", { class: "optional", text: when(inv.last_sent_at || inv.created_at) }),
      when(inv.expires_at),
      h("div", { class: "row-actions" },
        button("Resend", async () => {
          await post(`/workspaces/${id}/invitations/${encodeURIComponent(inv.id)}/resend`);
          say(`A new link was sent to ${inv.email}; the old one no longer works.`);
        }, { class: "secondary small" }),
        button("Revoke", async () => {
          const done = await dialog({
            title: `Revoke the invitation for ${inv.email}?`,
            body: h("p", { text: "The link they were sent stops working." }),
            ok: "Revoke",
            danger: true,
            onOk: () => del(`/workspaces/${id}/invitations/${encodeURIComponent(inv.id)}`),
          });
          if (done) { await ctx.redraw(); say(`The invitation for ${inv.email} was revoked.`); }
        }, { class: "danger small" })),
    ]);
    section.append(table("Pending invitations",
      ["Email", "Role", { label: "Sent", optional: true }, "Expires", ""], rows, "No pending invitations."));
  } catch (e) {
    section.append(h("p", { class: "alert", role: "alert", text: e.message }));
  }
  return section;
}

// Limit a member to some projects (or give back all of them).
async function limitProjects(ctx, m, projects) {
  const id = encodeURIComponent(ctx.workspace.id);
  const all = h("input", { type: "checkbox", id: "limit-all", checked: !m.projects });
  const boxes = projects.map((p) => {
    const box = h("input", { type: "checkbox", id: `limit-${p.id}`, value: p.id, checked: m.projects && m.projects.includes(p.id) });
    return h("div", {}, box, " ", h("label", { for: `limit-${p.id}`, text: p.name }));
  });
  const body = [
    h("div", {}, all, " ", h("label", { for: "limit-all", text: "Every project (no limit)" })),
    h("fieldset", {}, h("legend", { text: "Or only these projects" }),
      boxes.length ? boxes : h("p", { class: "empty", text: "The workspace has no projects yet." })),
  ];
  const done = await dialog({
    title: `Projects of ${m.email}`,
    body,
    ok: "Save",
    onOk: () => {
      const chosen = all.checked ? null
        : [...document.querySelectorAll("#dialog-body fieldset input:checked")].map((b) => b.value);
      return patch(`/workspaces/${id}/members/${encodeURIComponent(m.user_id)}`, { projects: chosen });
    },
  });
  if (done) { await ctx.redraw(); say(`Project limits of ${m.email} saved.`); }
}
