// Single sign-on (owners): the workspace's OpenID Connect connection (the
// client secret is write-only), the domains it proves with a DNS TXT
// record (add, publish, verify now, remove), and the sign-in policy.

import { get, put, post, del } from "./client.js";
import { h, card, field, form, select, button, dialog, say, table, when, badge, copy } from "./dom.js";

const METHODS = [
  ["password", "Password"],
  ["oidc", "Sign-in providers of this server (e.g. Google)"],
  ["sso", "This workspace's single sign-on"],
];
const ROLES = [["member", "Member"], ["viewer", "Viewer"], ["admin", "Admin"]];

// An answer, or null when the resource is not there (404).
async function getOrNull(path) {
  try {
    return await get(path);
  } catch (e) {
    if (e.status === 404) return null;
    throw e;
  }
}

// A value to copy: shown as code, with a Copy button.
function copyable(label, value) {
  return h("div", { class: "copyable", role: "group", "aria-label": label },
    h("strong", { text: `${label}:` }), h("code", { text: value }),
    button("Copy", () => copy(value), { class: "secondary small" }));
}

function check(label, name, checked) {
  const { wrap, input } = field(label, { type: "checkbox", name, checked });
  wrap.classList.add("check");
  return { wrap, input };
}

function connectionCard(ctx, id, connection) {
  const c = connection || {};
  const issuer = field("Issuer URL", { type: "url", name: "issuer", value: c.issuer || "", placeholder: "https://login.example.com", required: true, autocomplete: "off" });
  const clientId = field("Client ID", { name: "client_id", value: c.client_id || "", required: true, autocomplete: "off" });
  const secret = field("Client secret", {
    type: "password", name: "client_secret", autocomplete: "new-password",
    placeholder: c.client_secret_set ? "set — leave empty to keep it" : "",
    "aria-describedby": "sso-secret-hint",
  });
  const domains = field("Allowed email domains", { name: "allowed_domains", value: (c.allowed_domains || []).join(", "), placeholder: "example.com, example.org", "aria-describedby": "sso-domains-hint" });
  const role = select("Role of people who join by signing in", "default_role", ROLES, c.default_role || "member");
  const enabled = check("Enabled", "enabled", connection ? c.enabled : true);
  const children = [issuer.wrap, clientId.wrap, secret.wrap, domains.wrap, role.wrap, enabled.wrap,
    h("button", { type: "submit", text: connection ? "Save connection" : "Create connection" })];
  const save = form({ "aria-label": "Single sign-on connection" }, children, async () => {
    const body = {
      issuer: issuer.input.value.trim(),
      client_id: clientId.input.value.trim(),
      allowed_domains: domains.input.value.split(",").map((d) => d.trim()).filter(Boolean),
      default_role: role.input.value,
      enabled: enabled.input.checked,
    };
    if (secret.input.value) body.client_secret = secret.input.value;
    await put(`/workspaces/${id}/sso/connection`, body);
    await ctx.redraw();
    say(connection ? "Connection saved." : "Connection created.");
  });
  const parts = [
    h("p", { class: "muted", text: "Register WRNexus as a client at your identity provider (OpenID Connect, authorization code flow), then enter what it gives you." }),
    save,
    h("p", { id: "sso-secret-hint", class: "muted", text: c.client_secret_set ? "A client secret is set. It is never shown again; type a new one to replace it." : "The client secret is stored encrypted and never shown again." }),
    h("p", { id: "sso-domains-hint", class: "muted", text: "Comma-separated. Empty: the workspace's verified domains below." }),
  ];
  if (!connection) {
    // The one redirect URI of every provider; the back-channel logout URI
    // names the connection, so it is shown once the connection exists.
    parts.push(copyable("Redirect URI", `${window.location.origin}/.wrnexus/sso/callback`));
  }
  if (connection) {
    const status = h("p", {}, "Status: ", badge(c.enabled ? "enabled" : "disabled", c.enabled ? "ok" : undefined),
      " · secret ", badge(c.client_secret_set ? "set" : "not set", c.client_secret_set ? "ok" : "bad"));
    parts.unshift(status);
    if (c.redirect_uri) parts.push(copyable("Redirect URI", c.redirect_uri));
    if (c.backchannel_logout_uri) parts.push(copyable("Back-channel logout URI", c.backchannel_logout_uri));
    if (c.post_logout_redirect_uri) parts.push(copyable("Post-logout redirect URI", c.post_logout_redirect_uri));
    parts.push(button("Delete connection", async () => {
      const done = await dialog({
        title: "Delete the single sign-on connection?",
        body: h("p", { text: "People can no longer sign in to this workspace through its identity provider." }),
        ok: "Delete",
        danger: true,
        onOk: () => del(`/workspaces/${id}/sso/connection`),
      });
      if (done) { await ctx.redraw(); say("Connection deleted."); }
    }, { class: "danger small" }));
  }
  return card("Identity provider", ...parts);
}

function recordOf(d) {
  return h("div", { class: "dns-record" },
    copyable("Name", d.record.name),
    h("div", {}, h("strong", { text: "Type: " }), h("code", { text: d.record.type })),
    copyable("Value", d.record.value));
}

function domainsCard(ctx, id, domains) {
  const name = field("Domain", { name: "domain", placeholder: "example.com", required: true, autocomplete: "off" });
  const add = form({ "aria-label": "Add a domain" }, [name.wrap, h("button", { type: "submit", text: "Add domain" })], async () => {
    const { domain } = await post(`/workspaces/${id}/sso/domains`, { domain: name.input.value.trim() });
    await ctx.redraw();
    say(`Domain ${domain.domain} added. Publish its TXT record, then verify it.`);
  });
  const rows = domains.map((d) => {
    const state = d.status === "verified"
      ? badge("verified", "ok")
      : badge("pending", d.check_error ? "bad" : undefined);
    const detail = h("div", {}, state,
      d.check_error ? h("p", { class: "muted", text: `Last check: ${d.check_error}` }) : null,
      h("p", { class: "muted", text: `Checked ${when(d.checked_at)}` }));
    const actions = h("div", { class: "row-actions" },
      button("Verify now", async () => {
        const result = await post(`/workspaces/${id}/sso/domains/${encodeURIComponent(d.id)}/verify`);
        await ctx.redraw();
        say(result.verified
          ? `${d.domain} is verified.`
          : `${d.domain} is not verified yet: ${result.domain.check_error || "the record was not found"}.`);
      }, { class: "secondary small" }),
      button("Remove", async () => {
        const done = await dialog({
          title: `Remove ${d.domain}?`,
          body: h("p", { text: "People at this domain are no longer sent to this workspace's identity provider." }),
          ok: "Remove",
          danger: true,
          onOk: () => del(`/workspaces/${id}/sso/domains/${encodeURIComponent(d.id)}`),
        });
        if (done) { await ctx.redraw(); say("Domain removed."); }
      }, { class: "danger small" }));
    return [h("code", { text: d.domain }), detail, d.status === "verified" ? "—" : recordOf(d), actions];
  });
  return card(`Verified domains (${domains.length})`,
    h("p", { class: "muted", text: "Prove a domain by publishing a DNS TXT record. People whose email is at a verified domain are sent to this workspace's identity provider when they sign in." }),
    add,
    table("Domains", ["Domain", "Status", "Record to publish", ""], rows, "No domains yet."));
}

function policyCard(ctx, id, policy, hasConnection) {
  const methods = METHODS.map(([value, label]) => {
    const box = check(label, "methods", policy.methods.includes(value));
    box.input.value = value;
    return box;
  });
  const age = field("Maximum session age (minutes)", {
    type: "number", name: "max_session_age", min: 5, step: 1,
    value: policy.max_session_age_secs ? String(Math.round(policy.max_session_age_secs / 60)) : "",
    placeholder: "no limit", "data-narrow": true,
  });
  const fieldset = h("fieldset", { class: "methods" },
    h("legend", { text: "Sessions may have been signed in with" }), methods.map((m) => m.wrap));
  const save = form({ "aria-label": "Sign-in policy" }, [fieldset, age.wrap, h("button", { type: "submit", text: "Save policy" })], async () => {
    const chosen = methods.filter((m) => m.input.checked).map((m) => m.input.value);
    const minutes = age.input.value.trim();
    await put(`/workspaces/${id}/sign-in-policy`, {
      methods: chosen,
      max_session_age_secs: minutes === "" ? null : Math.round(Number(minutes) * 60),
    });
    await ctx.redraw();
    say(chosen.length === 1 && chosen[0] === "sso"
      ? "Policy saved: single sign-on is required in this workspace."
      : "Policy saved.");
  });
  const state = policy.require_sso
    ? badge("single sign-on required", "ok")
    : badge("single sign-on optional");
  return card("Sign-in policy",
    h("p", {}, state),
    h("p", { class: "muted", text: "Checking only single sign-on requires it: other sessions are refused in this workspace and sent to sign in through its provider." }),
    hasConnection ? null : h("p", { class: "muted", text: "Requiring single sign-on needs an enabled connection first." }),
    save);
}

export async function render(ctx, root) {
  if (ctx.role !== "owner") {
    throw new Error("Only an owner can manage single sign-on.");
  }
  const id = encodeURIComponent(ctx.workspace.id);
  const [connection, domainList, policy] = await Promise.all([
    getOrNull(`/workspaces/${id}/sso/connection`),
    get(`/workspaces/${id}/sso/domains`),
    getOrNull(`/workspaces/${id}/sign-in-policy`),
  ]);
  const current = connection && (connection.connection || connection);
  root.append(connectionCard(ctx, id, current));
  root.append(domainsCard(ctx, id, domainList.domains));
  if (policy) root.append(policyCard(ctx, id, policy, Boolean(current && current.enabled)));
}
