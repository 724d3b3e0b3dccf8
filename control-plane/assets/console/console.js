// The console's frame: reads who is signed in and what their role may do in
// the workspace the URL names (GET …/permissions, decided by Cedar), offers
// only those sections, and draws the one the URL names.

import { get, PREFIX, sectionUrl } from "./client.js";
import { h, showError, clearMessages } from "./dom.js";
import * as overview from "./overview.js";
import * as members from "./members.js";
import * as projects from "./projects.js";
import * as keys from "./keys.js";
import * as webhooks from "./webhooks.js";
import * as audit from "./audit.js";
import * as billing from "./billing.js";
import * as sso from "./sso.js";
import * as account from "./account.js";

// Sections of a workspace; `needs` names the permission that shows one,
// `owner` that only owners see it.
const SECTIONS = [
  { id: "overview", label: "Overview", module: overview },
  { id: "members", label: "Members", module: members },
  { id: "projects", label: "Projects", module: projects },
  { id: "api-keys", label: "API keys", module: keys, needs: "view_keys" },
  { id: "webhooks", label: "Webhooks", module: webhooks, needs: "view_webhooks" },
  { id: "audit", label: "Audit log", module: audit, needs: "read_audit" },
  { id: "billing", label: "Billing", module: billing, needs: "billing" },
  { id: "sso", label: "Single sign-on", module: sso, owner: true },
];

function route() {
  const path = window.location.pathname.replace(/\/+$/, "");
  if (path === `${PREFIX}/account`) return { account: true };
  const m = path.match(/^\/\.wrnexus\/console\/w\/([^/]+)\/([^/]+)$/);
  if (m) return { workspaceId: decodeURIComponent(m[1]), section: m[2] };
  return { section: "unknown" };
}

function setTitle(title, lead) {
  document.getElementById("title").textContent = title;
  document.getElementById("lead").textContent = lead || "";
  document.title = `${title} · WRNexus console`;
}

function drawNav(ctx, current) {
  const list = document.querySelector("#nav ul");
  list.replaceChildren();
  if (ctx.workspace) {
    list.append(h("li", { class: "group", "aria-hidden": "true", text: ctx.workspace.name }));
    for (const s of SECTIONS) {
      if (s.needs && !ctx.allowed[s.needs]) continue;
      if (s.owner && ctx.role !== "owner") continue;
      const here = current === s.id;
      list.append(h("li", {}, h("a", {
        href: sectionUrl(ctx.workspace.id, s.id),
        "aria-current": here ? "page" : undefined,
        "data-section": s.id,
        text: s.label,
      })));
    }
  }
  list.append(h("li", { class: "group", "aria-hidden": "true", text: "You" }));
  list.append(h("li", {}, h("a", {
    href: `${PREFIX}/account`,
    "aria-current": current === "account" ? "page" : undefined,
    "data-section": "account",
    text: "Your account",
  })));
}

async function draw() {
  const where = route();
  const content = document.getElementById("content");
  content.replaceChildren();
  clearMessages();
  let me;
  try {
    me = await get("/.wrnexus/whoami");
  } catch (e) {
    setTitle("Console");
    showError(e);
    return;
  }
  const ctx = { me, allowed: {}, redraw: draw };
  if (where.account) {
    const current = me.workspace;
    if (current) {
      ctx.workspace = current;
      try {
        ctx.allowed = (await get(`/workspaces/${encodeURIComponent(current.id)}/permissions`)).allowed;
      } catch (_) { ctx.workspace = null; }
    }
    drawNav(ctx, "account");
    setTitle("Your account", me.user ? me.user.email : "");
    await run(account, ctx, content);
    return;
  }
  if (!where.workspaceId) {
    setTitle("Page not found");
    drawNav(ctx, "");
    showError(new Error("There is no console page at this address."));
    return;
  }
  try {
    const [ws, perms] = await Promise.all([
      get(`/workspaces/${encodeURIComponent(where.workspaceId)}`),
      get(`/workspaces/${encodeURIComponent(where.workspaceId)}/permissions`),
    ]);
    ctx.workspace = ws.workspace;
    ctx.role = perms.role;
    ctx.allowed = perms.allowed;
  } catch (e) {
    // Not a member (404), or any other refusal: said plainly.
    setTitle(e.status === 404 ? "Workspace not found" : "Workspace unavailable");
    drawNav(ctx, "");
    showError(e);
    return;
  }
  const section = SECTIONS.find((s) => s.id === where.section);
  drawNav(ctx, section && section.id);
  if (!section) {
    setTitle("Page not found");
    showError(new Error(`There is no console section named ${where.section}.`));
    return;
  }
  const status = ctx.workspace.status === "suspended" ? " · suspended (read-only)" : "";
  setTitle(section.label, `${ctx.workspace.name} · your role: ${ctx.role}${status}`);
  if ((section.needs && !ctx.allowed[section.needs]) || (section.owner && ctx.role !== "owner")) {
    showError(new Error(`Your role (${ctx.role}) cannot open ${section.label.toLowerCase()} in this workspace.`));
    return;
  }
  await run(section.module, ctx, content);
}

async function run(module, ctx, content) {
  try {
    await module.render(ctx, content);
  } catch (e) {
    showError(e);
  }
}

// Switching workspace in the header's switcher opens the same section of
// the other workspace (instead of reloading this one).
document.addEventListener("wrnexus-switched", (e) => {
  const where = route();
  if (where.account) return;
  e.preventDefault();
  window.location.assign(sectionUrl(e.detail.workspace_id, where.section || "overview"));
});

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", () => draw());
} else {
  draw();
}
