// <wrnexus-switcher>: the WRNexus workspace switcher, a dependency-free web
// component. Drop it into an app's header behind the gateway:
//
//   <wrnexus-switcher></wrnexus-switcher>
//   <script type="module" src="/.wrnexus/switcher.js"></script>
//
// It reads /.wrnexus/whoami, switches with POST /.wrnexus/switch and
// reloads the same URL, creates team workspaces, links to the workspace
// console (/.wrnexus/console) and signs out. A workspace that requires
// single sign-on wears a lock; when this session was not signed in through
// its IdP, choosing it signs in there (/.wrnexus/sso/start) instead of
// switching, and comes back to the same URL. Theme it with
// the --wrnexus-switcher-* custom properties and ::part(); see
// docs/switcher.md.

const STYLE = `
:host {
  --_accent: var(--wrnexus-switcher-accent, #3b5bdb);
  --_bg: var(--wrnexus-switcher-bg, #ffffff);
  --_fg: var(--wrnexus-switcher-fg, #1d2230);
  --_muted: var(--wrnexus-switcher-muted, #5c6475);
  --_border: var(--wrnexus-switcher-border, #d5d9e2);
  --_hover: var(--wrnexus-switcher-hover, #eef1f8);
  --_danger: var(--wrnexus-switcher-danger, #b42318);
  --_radius: var(--wrnexus-switcher-radius, 8px);
  --_font: var(--wrnexus-switcher-font, system-ui, -apple-system, "Segoe UI", sans-serif);
  --_width: var(--wrnexus-switcher-width, 18rem);
  position: relative;
  display: inline-block;
  font: 14px/1.4 var(--_font);
  color: var(--_fg);
}
[hidden] { display: none !important; }
button { font: inherit; color: inherit; }
:focus-visible { outline: 2px solid var(--_accent); outline-offset: 2px; }
.trigger {
  display: inline-flex; align-items: center; gap: .5rem; max-width: 20rem;
  padding: .35rem .6rem; background: var(--_bg); border: 1px solid var(--_border);
  border-radius: var(--_radius); cursor: pointer;
}
.trigger:hover { background: var(--_hover); }
.avatar {
  flex: none; width: 1.6rem; height: 1.6rem; border-radius: 6px; display: grid;
  place-items: center; background: var(--_accent); color: #fff; font-weight: 700; font-size: .8rem;
}
.label { display: grid; text-align: left; min-width: 0; }
.name { font-weight: 600; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.role { color: var(--_muted); font-size: .75rem; }
.chevron { color: var(--_muted); }
.panel {
  position: absolute; z-index: 1000; top: calc(100% + .35rem); left: 0; width: var(--_width);
  background: var(--_bg); border: 1px solid var(--_border); border-radius: var(--_radius);
  box-shadow: 0 8px 24px rgba(16, 24, 40, .14); padding: .35rem;
}
.panel.end { left: auto; right: 0; }
.panel:focus { outline: none; }
.heading { margin: .3rem .5rem; font-size: .7rem; text-transform: uppercase; letter-spacing: .05em; color: var(--_muted); }
ul { position: relative; list-style: none; margin: 0; padding: 0; max-height: 18rem; overflow: auto; }
ul:focus { outline: none; }
li {
  display: flex; align-items: center; gap: .5rem; padding: .4rem .5rem;
  border-radius: calc(var(--_radius) - 2px); cursor: pointer;
}
li:hover { background: var(--_hover); }
li.active { background: var(--_hover); outline: 2px solid var(--_accent); outline-offset: -2px; }
li .avatar { width: 1.4rem; height: 1.4rem; font-size: .7rem; }
li .check { margin-left: auto; color: var(--_accent); font-weight: 700; }
.badge {
  font-size: .68rem; padding: 0 .35rem; border-radius: 999px; border: 1px solid var(--_border); color: var(--_muted);
}
.badge.suspended { color: var(--_danger); border-color: currentColor; }
.lock { flex: none; color: var(--_muted); font-size: .8rem; }
hr { border: 0; border-top: 1px solid var(--_border); margin: .35rem 0; }
.action {
  display: block; width: 100%; text-align: left; background: none; border: 0; padding: .45rem .5rem;
  border-radius: calc(var(--_radius) - 2px); cursor: pointer; color: inherit; text-decoration: none;
}
.action:hover { background: var(--_hover); }
form { display: flex; gap: .35rem; padding: .35rem .5rem; }
form input {
  flex: 1; min-width: 0; font: inherit; padding: .35rem .45rem; border: 1px solid var(--_border);
  border-radius: calc(var(--_radius) - 2px); color: var(--_fg); background: var(--_bg);
}
form button {
  padding: .35rem .7rem; border: 0; border-radius: calc(var(--_radius) - 2px);
  background: var(--_accent); color: #fff; cursor: pointer; font-weight: 600;
}
.error {
  margin: .35rem .5rem; padding: .4rem .5rem; border-radius: calc(var(--_radius) - 2px);
  background: #fef3f2; color: var(--_danger); font-size: .85rem;
}
`;

const TEMPLATE = `
<button class="trigger" part="button" type="button" aria-haspopup="listbox" aria-expanded="false">
  <span class="avatar" part="avatar" aria-hidden="true"></span>
  <span class="label"><span class="name" part="name">Loading…</span><span class="role" part="role"></span></span>
  <span class="chevron" aria-hidden="true">▾</span>
</button>
<div class="panel" part="panel" tabindex="-1" hidden>
  <p class="heading" id="heading">Workspaces</p>
  <ul role="listbox" part="listbox" tabindex="-1" aria-labelledby="heading"></ul>
  <hr>
  <button class="action create" part="action create" type="button">+ Create workspace</button>
  <form part="create-form" hidden>
    <input name="name" aria-label="New workspace name" placeholder="Workspace name" maxlength="100" required>
    <button type="submit">Create</button>
  </form>
  <a class="action manage" part="action manage" href="/.wrnexus/console">Manage workspace</a>
  <button class="action signout" part="action signout" type="button">Sign out</button>
</div>
<p class="error" part="error" role="alert" hidden></p>
`;

const STATUS_LABELS = { suspended: "read-only" };

// A padlock drawn in the text colour (no emoji font needed).
function lockIcon() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("width", "12");
  svg.setAttribute("height", "12");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("fill", "currentColor");
  const path = document.createElementNS(ns, "path");
  path.setAttribute(
    "d",
    "M5 7V5a3 3 0 0 1 6 0v2h.5A1.5 1.5 0 0 1 13 8.5v5A1.5 1.5 0 0 1 11.5 15h-7A1.5 1.5 0 0 1 3 13.5v-5A1.5 1.5 0 0 1 4.5 7H5zm1.5 0h3V5a1.5 1.5 0 0 0-3 0v2z",
  );
  svg.append(path);
  return svg;
}

function initial(name) {
  return (name || "?").trim().charAt(0).toUpperCase() || "?";
}

// The message of a problem+json answer, or a sentence for the status.
async function problem(response, fallback) {
  try {
    const body = await response.json();
    if (body && body.detail) return `${fallback}: ${body.detail}`;
  } catch (_) { /* not JSON */ }
  return `${fallback} (HTTP ${response.status})`;
}

class WrnexusSwitcher extends HTMLElement {
  constructor() {
    super();
    const root = this.attachShadow({ mode: "open" });
    // A constructed stylesheet works under a strict CSP (no inline styles),
    // as on the console's pages; older browsers get a <style> element.
    if ("adoptedStyleSheets" in root && typeof CSSStyleSheet.prototype.replaceSync === "function") {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(STYLE);
      root.adoptedStyleSheets = [sheet];
      root.innerHTML = TEMPLATE;
    } else {
      root.innerHTML = `<style>${STYLE}</style>${TEMPLATE}`;
    }
    this.$ = (selector) => root.querySelector(selector);
    this.workspaces = [];
    this.current = null;
    this.activeIndex = -1;
    this.busy = false;
  }

  connectedCallback() {
    const trigger = this.$(".trigger");
    trigger.addEventListener("click", () => this.toggle());
    trigger.addEventListener("keydown", (e) => this.onTriggerKey(e));
    // Space activates a button on keyup in some browsers: it opened already.
    trigger.addEventListener("keyup", (e) => { if (e.key === " " && !this.signedOut) e.preventDefault(); });
    this.$("ul").addEventListener("keydown", (e) => this.onListKey(e));
    this.$(".panel").addEventListener("keydown", (e) => {
      if (e.key === "Escape") { e.preventDefault(); this.close(true); }
    });
    this.$(".create").addEventListener("click", () => this.showCreate());
    this.$("form").addEventListener("submit", (e) => { e.preventDefault(); this.create(); });
    this.$(".signout").addEventListener("click", () => this.signOut());
    // Tab moves on to the actions; leaving the component closes the list.
    this.$(".panel").addEventListener("focusout", () => {
      setTimeout(() => { if (!this.shadowRoot.activeElement) this.close(false); }, 0);
    });
    this.onOutside = (e) => { if (!e.composedPath().includes(this)) this.close(false); };
    document.addEventListener("pointerdown", this.onOutside);
    this.load();
  }

  disconnectedCallback() {
    document.removeEventListener("pointerdown", this.onOutside);
  }

  get isOpen() {
    return !this.$(".panel").hidden;
  }

  async load() {
    this.showError("");
    let response;
    try {
      response = await fetch("/.wrnexus/whoami", {
        credentials: "include",
        headers: { accept: "application/json" },
      });
    } catch (_) {
      this.$(".name").textContent = "Offline";
      this.showError("Could not reach WRNexus.");
      return;
    }
    if (response.status === 401) {
      // The button then leads to the sign-in page, coming back here.
      this.signedOut = true;
      this.$(".name").textContent = "Sign in";
      this.$(".role").textContent = "Not signed in";
      this.$(".trigger").removeAttribute("aria-haspopup");
      this.$(".trigger").removeAttribute("aria-expanded");
      return;
    }
    if (!response.ok) {
      this.showError(await problem(response, "Could not load your workspaces"));
      return;
    }
    const me = await response.json();
    this.workspaces = me.workspaces || [];
    this.current = me.workspace || null;
    this.user = me.user || {};
    this.render();
    this.dispatchEvent(new CustomEvent("wrnexus-loaded", { detail: me, bubbles: true, composed: true }));
  }

  render() {
    const cur = this.current;
    this.$(".name").textContent = cur ? cur.name : "No workspace";
    this.$(".role").textContent = cur
      ? [cur.role, STATUS_LABELS[cur.status]].filter(Boolean).join(" · ")
      : "";
    this.$(".trigger .avatar").textContent = initial(cur && cur.name);
    if (cur) {
      this.$(".manage").href = `/.wrnexus/console/w/${encodeURIComponent(cur.id)}/overview`;
    }
    this.$(".trigger").setAttribute(
      "aria-label",
      cur ? `Workspace: ${cur.name}, ${cur.role}. Switch workspace` : "Switch workspace",
    );
    const list = this.$("ul");
    list.textContent = "";
    // Personal first, then teams (the server orders names within each).
    const ordered = [...this.workspaces].sort(
      (a, b) => (a.kind === "personal" ? 0 : 1) - (b.kind === "personal" ? 0 : 1),
    );
    this.workspaces = ordered;
    ordered.forEach((w, i) => {
      const li = document.createElement("li");
      li.id = `wrnexus-option-${i}`;
      li.setAttribute("role", "option");
      li.setAttribute("part", "option");
      li.dataset.workspaceId = w.id;
      const selected = cur && w.id === cur.id;
      li.setAttribute("aria-selected", selected ? "true" : "false");
      const avatar = document.createElement("span");
      avatar.className = "avatar";
      avatar.setAttribute("aria-hidden", "true");
      avatar.textContent = initial(w.name);
      const label = document.createElement("span");
      label.className = "label";
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = w.name;
      name.title = w.name;
      const meta = document.createElement("span");
      meta.className = "role";
      meta.textContent = `${w.kind === "personal" ? "Personal" : "Team"} · ${w.role}`;
      label.append(name, meta);
      li.append(avatar, label);
      if (w.sso_required) {
        const lock = document.createElement("span");
        lock.className = "lock";
        lock.setAttribute("part", "lock");
        lock.append(lockIcon());
        lock.title = w.sso_satisfied
          ? "Requires single sign-on"
          : "Requires single sign-on: choosing it signs you in with your organization";
        lock.setAttribute("role", "img");
        lock.setAttribute("aria-label", lock.title);
        li.append(lock);
      }
      const status = STATUS_LABELS[w.status];
      if (status) {
        const badge = document.createElement("span");
        badge.className = `badge ${w.status}`;
        badge.setAttribute("part", "badge");
        badge.textContent = status;
        li.append(badge);
      }
      if (selected) {
        const check = document.createElement("span");
        check.className = "check";
        check.setAttribute("aria-hidden", "true");
        check.textContent = "✓";
        li.append(check);
      }
      li.addEventListener("click", () => this.choose(i));
      li.addEventListener("pointermove", () => this.setActive(i));
      list.append(li);
    });
  }

  toggle() {
    if (this.signedOut) {
      window.location.assign(this.signInUrl());
      return;
    }
    if (this.isOpen) this.close(true);
    else this.open();
  }

  open(at) {
    if (!this.workspaces.length) return;
    const panel = this.$(".panel");
    panel.hidden = false;
    // Open towards the side with room (align="end" forces the right edge).
    panel.classList.remove("end");
    if (this.getAttribute("align") === "end"
      || panel.getBoundingClientRect().right > document.documentElement.clientWidth) {
      panel.classList.add("end");
    }
    this.$(".trigger").setAttribute("aria-expanded", "true");
    const selected = this.workspaces.findIndex((w) => this.current && w.id === this.current.id);
    const start = at === "last" ? this.workspaces.length - 1 : Math.max(selected, 0);
    this.setActive(start);
    this.$("ul").focus();
  }

  close(returnFocus) {
    if (!this.isOpen) return;
    this.$(".panel").hidden = true;
    this.$("form").hidden = true;
    this.$(".trigger").setAttribute("aria-expanded", "false");
    this.$("ul").removeAttribute("aria-activedescendant");
    if (returnFocus) this.$(".trigger").focus();
  }

  setActive(i) {
    const items = this.$("ul").querySelectorAll("li");
    if (!items.length) return;
    this.activeIndex = Math.min(Math.max(i, 0), items.length - 1);
    items.forEach((li, n) => li.classList.toggle("active", n === this.activeIndex));
    const li = items[this.activeIndex];
    const list = this.$("ul");
    list.setAttribute("aria-activedescendant", li.id);
    // Keep the active option in view without scrolling the page itself.
    if (li.offsetTop < list.scrollTop) list.scrollTop = li.offsetTop;
    const bottom = li.offsetTop + li.offsetHeight;
    if (bottom > list.scrollTop + list.clientHeight) list.scrollTop = bottom - list.clientHeight;
  }

  onTriggerKey(e) {
    if (this.signedOut) return;
    if (["Enter", " ", "ArrowDown"].includes(e.key)) {
      e.preventDefault();
      this.open();
    } else if (e.key === "ArrowUp") {
      e.preventDefault();
      this.open("last");
    }
  }

  onListKey(e) {
    const last = this.workspaces.length - 1;
    const moves = {
      ArrowDown: () => this.setActive(this.activeIndex + 1),
      ArrowUp: () => this.setActive(this.activeIndex - 1),
      Home: () => this.setActive(0),
      End: () => this.setActive(last),
      Enter: () => this.choose(this.activeIndex),
      " ": () => this.choose(this.activeIndex),
    };
    const move = moves[e.key];
    if (!move) return;
    e.preventDefault();
    move();
  }

  async choose(i) {
    const w = this.workspaces[i];
    if (!w || this.busy) return;
    if (this.current && w.id === this.current.id) {
      this.close(true);
      return;
    }
    if (w.sso_required && !w.sso_satisfied) {
      // The gateway would refuse this session there: sign in through the
      // workspace's own IdP, which lands in it, and come back here.
      window.location.assign(this.ssoUrl(w.id));
      return;
    }
    await this.switchTo(w.id, w.name);
  }

  ssoUrl(workspaceId) {
    const here = window.location.pathname + window.location.search;
    return `/.wrnexus/sso/start?workspace_id=${encodeURIComponent(workspaceId)}`
      + `&return_to=${encodeURIComponent(here)}`;
  }

  async switchTo(workspaceId, name) {
    this.busy = true;
    this.showError("");
    try {
      const response = await fetch("/.wrnexus/switch", {
        method: "POST",
        credentials: "include",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ workspace_id: workspaceId }),
      });
      if (!response.ok) {
        this.showError(await problem(response, `Could not switch to ${name}`));
        return;
      }
      const proceed = this.dispatchEvent(new CustomEvent("wrnexus-switched", {
        detail: { workspace_id: workspaceId }, bubbles: true, composed: true, cancelable: true,
      }));
      // Same URL, new workspace: the deep link survives the switch (unless
      // the page took over, by cancelling the event, to go elsewhere).
      if (proceed) window.location.reload();
    } catch (_) {
      this.showError(`Could not switch to ${name}: network error`);
    } finally {
      this.busy = false;
    }
  }

  showCreate() {
    const form = this.$("form");
    form.hidden = false;
    form.querySelector("input").focus();
  }

  async create() {
    const input = this.$("form input");
    const name = input.value.trim();
    if (!name || this.busy) return;
    this.busy = true;
    this.showError("");
    let created;
    try {
      const response = await fetch("/.wrnexus/api/v1/workspaces", {
        method: "POST",
        credentials: "include",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ name }),
      });
      if (!response.ok) {
        this.showError(await problem(response, "Could not create the workspace"));
        return;
      }
      created = (await response.json()).workspace;
    } catch (_) {
      this.showError("Could not create the workspace: network error");
      return;
    } finally {
      this.busy = false;
    }
    input.value = "";
    await this.switchTo(created.id, created.name);
  }

  signInUrl() {
    const here = window.location.pathname + window.location.search;
    return `/.wrnexus/signin?return_to=${encodeURIComponent(here)}`;
  }

  async signOut() {
    try {
      await fetch("/.wrnexus/signout", {
        method: "POST",
        credentials: "include",
        headers: { accept: "application/json" },
      });
    } catch (_) {
      this.showError("Could not sign out: network error");
      return;
    }
    window.location.assign(this.signInUrl());
  }

  showError(message) {
    const box = this.$(".error");
    box.textContent = message;
    box.hidden = !message;
  }
}

if (!customElements.get("wrnexus-switcher")) {
  customElements.define("wrnexus-switcher", WrnexusSwitcher);
}
