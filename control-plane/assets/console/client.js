// The JSON API as the console calls it: same origin, the session cookie,
// JSON bodies; a refusal becomes an ApiError carrying the problem's
// sentence, to be shown (never swallowed). A lost session goes to sign-in.

const BASE = "/.wrnexus/api/v1";

export const PREFIX = "/.wrnexus/console";

// The console page of `section` in a workspace.
export function sectionUrl(workspaceId, section) {
  return `${PREFIX}/w/${encodeURIComponent(workspaceId)}/${section}`;
}

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail);
    this.status = status;
    this.code = code;
  }
}

// An API sentence as a person reads it: no code quotes, capitalised, a full stop.
export function sentence(detail) {
  const text = String(detail || "").replace(/`/g, "").trim();
  if (!text) return "";
  const out = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(out) ? out : `${out}.`;
}

export function signInUrl() {
  const here = window.location.pathname + window.location.search;
  return `/.wrnexus/signin?return_to=${encodeURIComponent(here)}`;
}

// Call `path` under the API (or an absolute `/.wrnexus/…` path) with `method`
// and an optional JSON `body`; the parsed answer, or null when there is none.
export async function api(method, path, body) {
  const init = {
    method,
    credentials: "same-origin",
    headers: { accept: "application/json" },
  };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const url = path.startsWith("/.wrnexus/") ? path : `${BASE}${path}`;
  let response;
  try {
    response = await fetch(url, init);
  } catch (_) {
    throw new ApiError(0, "network", "The server could not be reached. Check your connection and try again.");
  }
  if (response.status === 401) {
    window.location.assign(signInUrl());
    throw new ApiError(401, "unauthenticated", "Your session has ended. Sign in again.");
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch (_) { data = null; }
  }
  if (!response.ok) {
    const detail = data && data.detail
      ? sentence(data.detail)
      : `The request failed (HTTP ${response.status}).`;
    throw new ApiError(response.status, (data && data.code) || "error", detail);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body === undefined ? {} : body);
export const patch = (path, body) => api("PATCH", path, body);
export const put = (path, body) => api("PUT", path, body);
export const del = (path) => api("DELETE", path);
