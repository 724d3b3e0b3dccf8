// A real OpenID provider for the end-to-end suites (oidc-provider), started by
// tests/src/oidc.rs as `node provider.mjs` with its JSON configuration as the
// first argument or on stdin:
//
//   {
//     "port": 0,                       // 0: a free port
//     "issuer_path": "/tenant-a",      // optional path under which it lives
//     "issuer": "http://127.0.0.1:9",  // optional: the issuer announced, for a
//                                      // proxy in front that keeps `Host`;
//                                      // default its own address + issuer_path
//     "clients": [{ "client_id", "client_secret", "redirect_uris",
//                   "post_logout_redirect_uris", "backchannel_logout_uri",
//                   "backchannel_logout_session_required",
//                   "token_endpoint_auth_method" }],
//     "accounts": [{ "sub", "email", "email_verified", "password",
//                    "claims": { ...any other claim } }]
//   }
//
// Once listening it prints one JSON line on stdout, `{"issuer": "..."}`, and
// nothing else there (diagnostics go to stderr).
//
// Sign-in is a plain HTML form (inputs `login`, `password`, one submit
// button) so both an HTTP client and a browser can drive it; `login` is an
// account's email or `sub`. Consent is granted without asking. PKCE (S256) is
// required of every client. ID tokens are signed RS256, carry `sid`,
// `auth_time`, `email`, `email_verified` and `amr: ["pwd"]`. Back-channel
// logout and RP-initiated logout are on; the logout page confirms itself (a
// form posted by script, or by hand: its button is named `logout`).
//
// Test-only endpoints, under the issuer:
//   POST {issuer}/__test/rotate                 {"retire": false}
//     A new RSA signing key, first in the JWKS (so new tokens are signed with
//     it); with `retire`, the older keys leave the JWKS. oidc-provider reads
//     its keys once, so a new Provider instance is made with the same
//     configuration and the same (in-memory, module-wide) storage: sessions,
//     codes and grants survive. Answers {"kid": new, "kids": [all, in order]}.
//   POST {issuer}/__test/backchannel-logout     {"client_id", "sub", "sid"}
//     Sends that client a back-channel logout for that session, made by
//     oidc-provider itself: `Client#backchannelLogout`, the very call its
//     end_session endpoint makes, signed with the provider's current key.
//     Answers {"ok": true} once the client answered 200/204, else
//     {"ok": false, "status": <the client's status or null>, "error": "..."}.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const settings = JSON.parse(process.argv[2] ?? (await readStdin()));
const prefix = (settings.issuer_path ?? '').replace(/\/+$/, '');
if (prefix !== '' && !prefix.startsWith('/')) {
  throw new Error(`issuer_path must start with "/": ${prefix}`);
}
const accounts = settings.accounts ?? [];
const clients = (settings.clients ?? []).map((client) => ({
  grant_types: ['authorization_code'],
  response_types: ['code'],
  ...client,
}));
const cookieKeys = [randomBytes(32).toString('base64url')];
let signingKeys = [newSigningKey()];
let provider;

const server = createServer((req, res) => {
  handle(req, res).catch((err) => {
    console.error('oidc test provider: request failed:', err);
    if (!res.headersSent) {
      send(res, 500, { error: 'server_error', error_description: String(err.message) });
    } else {
      res.end();
    }
  });
});
server.listen(settings.port ?? 0, '127.0.0.1', () => {
  const issuer = settings.issuer ?? `http://127.0.0.1:${server.address().port}${prefix}`;
  provider = build(issuer);
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
// A test process killed outright cannot kill us: leave with our parent.
const parent = process.ppid;
setInterval(() => process.ppid !== parent && process.exit(0), 1000).unref();

async function handle(req, res) {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (prefix !== '' && url.pathname !== prefix && !url.pathname.startsWith(`${prefix}/`)) {
    return send(res, 404, { error: 'not_found' });
  }
  const path = url.pathname.slice(prefix.length) || '/';
  if (path.startsWith('/__test/') && req.method === 'POST') {
    return testEndpoint(path, JSON.parse((await readBody(req)) || '{}'), res);
  }
  const interaction = path.match(/^\/interaction\/([^/]+)(\/login)?$/);
  if (interaction) {
    return interact(req, res, interaction[2] !== undefined);
  }
  // oidc-provider works out its mount path from `originalUrl`.
  req.originalUrl = req.url;
  req.url = req.url.slice(prefix.length) || '/';
  return provider.callback()(req, res);
}

function build(issuer) {
  const p = new Provider(issuer, {
    clients,
    jwks: { keys: signingKeys },
    cookies: { keys: cookieKeys },
    findAccount: (_ctx, sub) => {
      const account = accounts.find((a) => a.sub === sub);
      return account && {
        accountId: sub,
        claims: () => ({
          ...account.claims,
          sub,
          email: account.email,
          email_verified: account.email_verified ?? false,
        }),
      };
    },
    // `amr` and `auth_time` in every ID token, as many providers do.
    claims: {
      openid: ['sub', 'amr', 'auth_time'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    // Scope claims (email) in the ID token as well, as most providers do.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource },
    },
    interactions: { url: (_ctx, interaction) => `${prefix}/interaction/${interaction.uid}` },
    // The suites' relying parties live on loopback, which oidc-provider's
    // own guard against special-use addresses would refuse to call.
    fetch: (target, options) => {
      const { dispatcher, ...rest } = options;
      return globalThis.fetch(target, rest);
    },
  });
  p.on('server_error', (_ctx, err) => console.error('oidc test provider: server_error:', err));
  p.on('backchannel.error', (_ctx, err, client) => {
    console.error(`oidc test provider: back-channel logout to ${client.clientId} failed:`, err.message);
  });
  return p;
}

// The login form, or consent granted on the spot.
async function interact(req, res, submitted) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params } = details;
  if (prompt.name === 'login' && submitted && req.method === 'POST') {
    const form = new URLSearchParams(await readBody(req));
    const login = form.get('login') ?? '';
    const account = accounts.find((a) => (a.email === login || a.sub === login)
      && a.password === form.get('password'));
    if (!account) {
      return loginPage(res, uid, login, 'Invalid login or password.');
    }
    return provider.interactionFinished(req, res, {
      login: { accountId: account.sub, amr: ['pwd'] },
    }, { mergeWithLastSubmission: false });
  }
  if (prompt.name === 'login') {
    return loginPage(res, uid, params.login_hint ?? '', null);
  }
  if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    const consent = details.grantId ? {} : { grantId };
    return provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
  }
  return send(res, 400, { error: 'unsupported_prompt', prompt: prompt.name });
}

function loginPage(res, uid, login, error) {
  res.statusCode = 200;
  res.setHeader('content-type', 'text/html; charset=utf-8');
  res.setHeader('cache-control', 'no-store');
  res.end(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Sign in</title></head>
<body>
<h1>Sign in</h1>
${error ? `<p id="error">${escape(error)}</p>` : ''}
<form id="login" method="post" action="${prefix}/interaction/${escape(uid)}/login">
<label>Login <input name="login" value="${escape(login)}" autofocus></label>
<label>Password <input name="password" type="password"></label>
<button type="submit">Sign in</button>
</form>
</body></html>`);
}

// RP-initiated logout: the confirmation form (`xsrf` inside it) posted with
// `logout=yes` by script; a browser without script, or a test, presses the
// button.
async function logoutSource(ctx, form) {
  ctx.body = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Sign out</title></head>
<body>
<h1>Signing out</h1>
${form}
<button id="logout" type="submit" form="op.logoutForm" value="yes" name="logout">Sign out</button>
<script>document.getElementById('logout').click();</script>
</body></html>`;
}

async function testEndpoint(path, body, res) {
  if (path === '/__test/rotate') {
    const key = newSigningKey();
    signingKeys = body.retire ? [key] : [key, ...signingKeys];
    provider = build(provider.issuer);
    return send(res, 200, { kid: key.kid, kids: signingKeys.map((k) => k.kid) });
  }
  if (path === '/__test/backchannel-logout') {
    const client = await provider.Client.find(String(body.client_id ?? ''));
    if (!client) {
      return send(res, 404, { ok: false, status: null, error: `no client ${body.client_id}` });
    }
    if (!client.backchannelLogoutUri) {
      return send(res, 400, { ok: false, status: null, error: 'the client has no backchannel_logout_uri' });
    }
    try {
      await client.backchannelLogout(String(body.sub ?? ''), body.sid);
      return send(res, 200, { ok: true });
    } catch (err) {
      return send(res, 200, { ok: false, status: err.response?.status ?? null, error: String(err.message) });
    }
  }
  return send(res, 404, { error: 'not_found' });
}

function newSigningKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    ...privateKey.export({ format: 'jwk' }),
    kid: randomBytes(12).toString('base64url'),
    use: 'sig',
    alg: 'RS256',
  };
}

function send(res, status, body) {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(body));
}

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}
