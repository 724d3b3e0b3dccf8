// Home-realm discovery on the sign-in page: once an email is typed, ask
// whether its domain signs in through a workspace's own provider; if so,
// hide the password and send the form's submit there instead. Without this
// script the form still works: sent without a password, the server answers
// with the same redirect.
(() => {
  "use strict";
  const form = document.querySelector('form[action="/.wrnexus/signin"]');
  if (!form) return;
  const email = form.querySelector('input[name="email"]');
  const password = form.querySelector('input[name="password"]');
  const returnTo = form.querySelector('input[name="return_to"]');
  const button = form.querySelector('button[type="submit"]');
  if (!email || !password || !button) return;
  const passwordLabel = form.querySelector('label[for="' + password.id + '"]');
  const buttonText = button.textContent;
  let startUrl = null;
  let asked = "";
  let seq = 0;

  function show(url) {
    startUrl = url;
    const sso = url !== null;
    password.hidden = sso;
    password.disabled = sso;
    if (passwordLabel) passwordLabel.hidden = sso;
    button.textContent = sso ? "Continue with single sign-on" : buttonText;
  }

  async function discover() {
    const value = email.value.trim();
    if (value === asked) return;
    asked = value;
    const mine = ++seq;
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value)) {
      show(null);
      return;
    }
    const query = new URLSearchParams({ email: value, return_to: returnTo ? returnTo.value : "/" });
    try {
      const response = await fetch("/.wrnexus/sso/discover?" + query.toString(), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!response.ok || mine !== seq) return;
      const body = await response.json();
      if (mine !== seq) return;
      const url = body && body.sso && typeof body.start_url === "string" ? body.start_url : null;
      // Only ever a path on this origin.
      show(url && url.startsWith("/.wrnexus/sso/start?") ? url : null);
    } catch (_) {
      // Discovery is a convenience: the form keeps working without it.
    }
  }

  let timer = 0;
  email.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(discover, 400);
  });
  email.addEventListener("change", discover);
  form.addEventListener("submit", (event) => {
    if (startUrl !== null) {
      event.preventDefault();
      window.location.assign(startUrl);
    }
  });
  if (email.value) discover();
})();
