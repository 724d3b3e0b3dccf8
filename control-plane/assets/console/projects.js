// Projects: the list (a limited member sees their own), and for admins
// create, archive and unarchive (an archived project is read-only).

import { get, post, patch } from "./client.js";
import { h, card, field, form, button, say, table, when, badge } from "./dom.js";

export async function render(ctx, root) {
  const id = encodeURIComponent(ctx.workspace.id);
  const { projects } = await get(`/workspaces/${id}/projects`);
  if (ctx.allowed.manage_projects) {
    const name = field("Project name", { name: "name", maxlength: "100", required: true, autocomplete: "off" });
    root.append(card("New project",
      form({ "aria-label": "Create a project" }, [name.wrap, h("button", { type: "submit", text: "Create project" })], async () => {
        const created = await post(`/workspaces/${id}/projects`, { name: name.input.value.trim() });
        await ctx.redraw();
        say(`Project ${created.project.name} created.`);
      })));
  }
  const rows = projects.map((p) => {
    const actions = h("div", { class: "row-actions" });
    if (ctx.allowed.manage_projects) {
      actions.append(button(p.archived ? "Unarchive" : "Archive", async () => {
        await patch(`/workspaces/${id}/projects/${encodeURIComponent(p.id)}`, { archived: !p.archived });
        await ctx.redraw();
        say(`${p.name} ${p.archived ? "unarchived" : "archived"}.`);
      }, { class: "secondary small" }));
    }
    return [p.name, h("code", { class: "optional", text: p.id }),
      p.archived ? badge("archived · read-only", "bad") : badge("open", "ok"), when(p.created_at), actions];
  });
  root.append(card(`Projects (${projects.length})`,
    table("Projects", ["Name", { label: "Id", optional: true }, "Status", "Created", ""], rows,
      "No projects yet.")));
}
