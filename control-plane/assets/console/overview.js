// Overview and settings: what the workspace is, and for those allowed,
// rename, transfer ownership and delete (each confirmed in a dialog).

import { get, patch, post, del, PREFIX } from "./client.js";
import { h, card, field, select, form, button, dialog, say, badge } from "./dom.js";

export async function render(ctx, root) {
  const ws = ctx.workspace;
  const id = encodeURIComponent(ws.id);
  const facts = h("dl", { class: "facts" },
    h("dt", { text: "Name" }), h("dd", { "data-fact": "name", text: ws.name }),
    h("dt", { text: "Workspace id" }), h("dd", {}, h("code", { text: ws.id })),
    h("dt", { text: "Kind" }), h("dd", { text: ws.kind === "personal" ? "Personal" : "Team" }),
    h("dt", { text: "Plan" }), h("dd", { text: ws.plan }),
    h("dt", { text: "Status" }), h("dd", {}, ws.status === "suspended"
      ? badge("suspended · read-only", "bad") : badge("active", "ok")),
    h("dt", { text: "Your role" }), h("dd", { text: ctx.role }));
  root.append(card("Workspace", facts));

  if (ctx.allowed.rename) {
    const name = field("Workspace name", { name: "name", value: ws.name, maxlength: "100", required: true, autocomplete: "off" });
    root.append(card("Rename",
      form({ "aria-label": "Rename the workspace" }, [name.wrap, h("button", { type: "submit", text: "Rename" })], async () => {
        const body = await patch(`/workspaces/${id}`, { name: name.input.value.trim() });
        await ctx.redraw();
        // The switcher in the header shows the new name too.
        const switcher = document.querySelector("wrnexus-switcher");
        if (switcher && typeof switcher.load === "function") switcher.load();
        say(`Renamed to ${body.workspace.name}.`);
      })));
  }

  if (ctx.allowed.transfer && ws.kind !== "personal") {
    const people = (await get(`/workspaces/${id}/members`)).members
      .filter((m) => m.user_id !== (ctx.me.user && ctx.me.user.id));
    if (people.length) {
      const to = select("New owner", "user_id", people.map((m) => [m.user_id, `${m.email} (${m.role})`]));
      root.append(card("Transfer ownership",
        h("p", { text: "The new owner gets every right, billing included; you stay on as an admin." }),
        form({ "aria-label": "Transfer ownership" }, [to.wrap, h("button", { type: "submit", class: "secondary", text: "Transfer…" })], async () => {
          const chosen = people.find((m) => m.user_id === to.input.value);
          const done = await dialog({
            title: "Transfer ownership?",
            body: h("p", { text: `${chosen.email} becomes the owner of ${ws.name}. You become an admin.` }),
            ok: "Transfer",
            danger: true,
            onOk: () => post(`/workspaces/${id}/transfer`, { user_id: chosen.user_id }),
          });
          if (done) await ctx.redraw();
        })));
    }
  }

  if (ctx.allowed.delete && ws.kind !== "personal") {
    root.append(h("section", { class: "card danger", "aria-labelledby": "delete-title" },
      h("h2", { id: "delete-title", text: "Delete this workspace" }),
      h("p", { text: "Members lose access at once; API keys stop working. This cannot be undone." }),
      button("Delete workspace…", async () => {
        const confirmName = field(`Type ${ws.name} to confirm`, { name: "confirm", autocomplete: "off" });
        const done = await dialog({
          title: `Delete ${ws.name}?`,
          body: [h("p", { text: "Everything in the workspace is deleted for every member." }), confirmName.wrap],
          ok: "Delete",
          danger: true,
          onOk: async () => {
            if (confirmName.input.value.trim() !== ws.name) {
              confirmName.input.setAttribute("aria-invalid", "true");
              throw new Error("The name does not match: nothing was deleted.");
            }
            await del(`/workspaces/${id}`);
          },
        });
        if (!done) return;
        const personal = (ctx.me.workspaces || []).find((w) => w.kind === "personal");
        if (personal) await post("/.wrnexus/switch", { workspace_id: personal.id });
        window.location.assign(PREFIX);
      }, { class: "danger" })));
  }
}
