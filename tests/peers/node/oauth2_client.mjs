// npm `openid-client` (panva) against an OAuth 2 authorization server (issue 15 interop):
// the OAuth 2 parts, not ID tokens. The same steps, arguments and output as
// tests/peers/python/oauth2_client.py (read its docstring), in this order, each optional:
//
//   code                metadata discovery (RFC 8414 /.well-known/oauth-authorization-server,
//                       or OpenID Connect Discovery with --discovery oidc), code + PKCE S256;
//                       openid-client checks `state` and `iss` (RFC 9207). A callback whose
//                       `iss` was changed is refused before the real one is exchanged.
//   refresh             refresh_token grant, reporting whether the refresh token rotated
//   introspect          RFC 7662 (access token, rotated-out refresh token, revoked tokens)
//   revoke              RFC 7009
//   client_credentials  and its token's introspection
//   device              RFC 8628: the library polls; the harness approves once the server has
//                       answered authorization_pending
//
// Options that change the steps (issue 17):
//   --par               the code step pushes its request (RFC 9126) and redirects with
//                       request_uri only
//   --dpop              a DPoP key (RFC 9449, ES256): a proof on PAR, the code exchange,
//                       refresh and client_credentials, so the tokens are bound to it;
//                       openid-client answers use_dpop_nonce itself
//   --resource URL      after the code step (and refresh), GET URL with the access token
//                       (DPoP scheme and proof with --dpop), and with --dpop the same token
//                       as Bearer, which the server must refuse
//
//   KEYWARD_NODE_MODULES=<peers>/node/node_modules node oauth2_client.mjs --issuer URL
//       --client-id ID [--client-secret S] [--auth-method client_secret_basic|client_secret_post|none]
//       [--discovery oauth|oidc|none] [--token-endpoint URL ...] [--redirect-uri URI] [--scope "a b"] [--steps code,refresh,...]
//       [--user stdio|get] [--login-header "Name: value" ...] [--par] [--dpop] [--resource URL]
//
// One JSON object per line on stdout, never a token's value; lines with "await" wait for the
// harness's answer on stdin. Exits non-zero, with a message on stderr, on any failure.
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const STEPS = ['code', 'refresh', 'introspect', 'revoke', 'client_credentials', 'device'];
const ENDPOINTS = ['authorization', 'token', 'revocation', 'introspection', 'device_authorization'];

const { values: args } = parseArgs({
  options: {
    issuer: { type: 'string' },
    discovery: { type: 'string', default: 'oauth' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'auth-method': { type: 'string', default: 'client_secret_basic' },
    'redirect-uri': { type: 'string' },
    scope: { type: 'string' },
    steps: { type: 'string', default: STEPS.join(',') },
    user: { type: 'string', default: 'stdio' },
    'login-header': { type: 'string', multiple: true, default: [] },
    par: { type: 'boolean', default: false },
    dpop: { type: 'boolean', default: false },
    resource: { type: 'string' },
    ...Object.fromEntries(ENDPOINTS.map((e) => [`${e.replaceAll('_', '-')}-endpoint`, { type: 'string' }])),
  },
});

class Failure extends Error {}
const check = (cond, msg) => {
  if (!cond) throw new Failure(msg);
};
const emit = (step, fields = {}) => console.log(JSON.stringify({ step, ...fields }));

const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function askHarness(step, wait, fields) {
  console.log(JSON.stringify({ step, ...fields, await: wait }));
  const { value, done } = await stdin.next();
  check(!done, `${step}: the harness closed stdin instead of answering`);
  return value.trim();
}

const tokenFields = (t) => ({
  token_type: t.token_type ?? null,
  scope: t.scope ?? null,
  expires_in: t.expires_in ?? null,
  refresh_token: Boolean(t.refresh_token),
  id_token: Boolean(t.id_token),
});

async function main() {
  const modules = process.env.KEYWARD_NODE_MODULES;
  check(modules, 'set KEYWARD_NODE_MODULES to the node_modules holding openid-client');
  const client = await import(pathToFileURL(join(modules, 'openid-client', 'build', 'index.js')).href);
  const steps = new Set(args.steps.split(','));
  for (const s of steps) check(STEPS.includes(s), `unknown step ${s}; known: ${STEPS}`);
  check(args.issuer && args['client-id'], '--issuer and --client-id are required');
  check(['oauth', 'oidc', 'none'].includes(args.discovery), '--discovery is oauth, oidc or none');
  check(!steps.has('device') || args.user === 'stdio', 'the device step needs --user stdio: the harness approves the user code');

  const method = args['auth-method'];
  const secret = args['client-secret'];
  const auth = {
    client_secret_basic: () => client.ClientSecretBasic(secret),
    client_secret_post: () => client.ClientSecretPost(secret),
    none: () => client.None(),
  }[method];
  check(auth, `unknown --auth-method ${method}`);
  check(method === 'none' || secret, `--auth-method ${method} needs --client-secret`);

  // Token endpoint error codes, as the server sent them (the device flow's pending polls).
  const tokenErrors = [];
  let pendingSeen;
  const sawPending = new Promise((resolve) => (pendingSeen = resolve));
  const observingFetch = async (url, options) => {
    const res = await fetch(url, options);
    if (url === config?.serverMetadata().token_endpoint && res.status === 400) {
      const error = await res.clone().json().then((b) => b.error, () => null);
      tokenErrors.push(error);
      if (error === 'authorization_pending') pendingSeen();
    }
    return res;
  };

  // Explicit --*-endpoint arguments override the discovered ones (--discovery none: they are
  // all there is). http://127.0.0.1 is allowed for every request, discovery's included.
  const explicit = Object.fromEntries(ENDPOINTS.map((e) => [`${e}_endpoint`, args[`${e.replaceAll('_', '-')}-endpoint`]]).filter(([, v]) => v));
  let config;
  if (args.discovery === 'none') {
    config = new client.Configuration({ issuer: args.issuer, ...explicit }, args['client-id'], secret, auth());
    client.allowInsecureRequests(config);
  } else {
    const found = await client.discovery(new URL(args.issuer), args['client-id'], secret, auth(), {
      algorithm: args.discovery === 'oauth' ? 'oauth2' : 'oidc',
      execute: [client.allowInsecureRequests],
    });
    config = new client.Configuration({ ...found.serverMetadata(), ...explicit }, args['client-id'], secret, auth());
    client.allowInsecureRequests(config);
  }
  config[client.customFetch] = observingFetch;
  const meta = config.serverMetadata();
  emit('metadata', {
    issuer: meta.issuer,
    iss_parameter_supported: meta.authorization_response_iss_parameter_supported ?? false,
    code_challenge_methods: meta.code_challenge_methods_supported ?? null,
  });
  const confidential = method !== 'none';
  const dpop = args.dpop ? client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256')) : undefined;
  const dpopOptions = dpop ? { DPoP: dpop } : undefined;

  async function introspect(what, token, hint) {
    const data = await client.tokenIntrospection(config, token, { token_type_hint: hint });
    check(typeof data.active === 'boolean', `introspection without a boolean active: ${JSON.stringify(data)}`);
    const keys = ['active', 'scope', 'client_id', 'token_type', 'sub', 'exp', 'iat', 'aud', 'cnf'];
    emit('introspect', { token: what, ...Object.fromEntries(keys.filter((k) => k in data).map((k) => [k, data[k]])) });
    return data;
  }
  async function revoke(token, hint) {
    await client.tokenRevocation(config, token, { token_type_hint: hint });
    emit('revoke', { token: hint, status: 200 });
  }

  if (steps.has('code')) {
    const redirectUri = args['redirect-uri'];
    check(redirectUri, 'the code step needs --redirect-uri');
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const params = {
      redirect_uri: redirectUri,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    };
    if (args.scope) params.scope = args.scope;
    let url;
    if (args.par) {
      url = (await client.buildAuthorizationUrlWithPAR(config, params, dpopOptions)).href;
      const sent = [...new URL(url).searchParams.keys()].sort();
      emit('authorization_url', { state_sent: true, pkce: 'S256', par: true, params: sent });
    } else {
      url = client.buildAuthorizationUrl(config, params).href;
      emit('authorization_url', { state_sent: true, pkce: 'S256' });
    }
    let callback;
    if (args.user === 'stdio') {
      callback = await askHarness('authorize', 'callback', { url });
    } else {
      const headers = Object.fromEntries(args['login-header'].map((h) => h.split(/:(.*)/s).map((p) => p.trim()).slice(0, 2)));
      const res = await fetch(url, { headers, redirect: 'manual' });
      callback = new URL(res.headers.get('location') ?? '', url).href;
      check([302, 303].includes(res.status) && callback.startsWith(redirectUri),
        `the authorization request did not redirect to ${redirectUri}: HTTP ${res.status} ${await res.text()}`);
    }
    const callbackUrl = new URL(callback);
    const checks = { pkceCodeVerifier: verifier, expectedState: state, idTokenExpected: false };
    // RFC 9207: the same callback with another issuer must be refused (a mix-up attack).
    if (callbackUrl.searchParams.has('iss')) {
      const forged = new URL(callbackUrl);
      forged.searchParams.set('iss', 'http://127.0.0.1:1/elsewhere');
      const refused = await client.authorizationCodeGrant(config, forged, checks, undefined, dpopOptions).then(() => false, () => true);
      check(refused, 'openid-client accepted a callback from another issuer');
    }
    let token = await client.authorizationCodeGrant(config, callbackUrl, checks, undefined, dpopOptions);
    emit('code', {
      iss: callbackUrl.searchParams.get('iss'),
      iss_checked: callbackUrl.searchParams.has('iss') || Boolean(meta.authorization_response_iss_parameter_supported),
      state_matched: true,
      forged_iss_refused: callbackUrl.searchParams.has('iss'),
      ...tokenFields(token),
    });
    if (steps.has('introspect') && confidential) {
      const data = await introspect('access_token', token.access_token, 'access_token');
      check(data.active, 'a fresh access token introspects inactive');
    }
    let rotatedOut = null;
    if (steps.has('refresh')) {
      check(token.refresh_token, 'no refresh token to refresh with');
      const fresh = await client.refreshTokenGrant(config, token.refresh_token, undefined, dpopOptions);
      const rotated = Boolean(fresh.refresh_token) && fresh.refresh_token !== token.refresh_token;
      emit('refresh', { rotated, new_access_token: fresh.access_token !== token.access_token, ...tokenFields(fresh) });
      if (rotated) rotatedOut = token.refresh_token;
      token = { ...fresh, refresh_token: fresh.refresh_token ?? token.refresh_token };
    }
    if (args.resource) {
      const res = await client.fetchProtectedResource(config, token.access_token, new URL(args.resource), 'GET', undefined, undefined, dpopOptions);
      const fields = { status: res.status, body: await res.text(), scheme: dpop ? 'DPoP' : 'Bearer' };
      if (dpop) {
        // The bound token without its proof, as a bearer token: refused (RFC 9449 §7.2).
        const bearer = await fetch(args.resource, { headers: { authorization: `Bearer ${token.access_token}` } });
        fields.bearer_downgrade_status = bearer.status;
        fields.bearer_downgrade_challenge = bearer.headers.get('www-authenticate');
      }
      emit('resource', fields);
    }
    if (steps.has('introspect') && confidential && rotatedOut) {
      await introspect('rotated_out_refresh_token', rotatedOut, 'refresh_token');
    }
    if (steps.has('revoke') && token.refresh_token) {
      await revoke(token.refresh_token, 'refresh_token');
      if (steps.has('introspect') && confidential) {
        for (const what of ['refresh_token', 'access_token']) {
          const data = await introspect(`revoked_${what}`, token[what], what);
          check(!data.active, `the revoked grant's ${what} is still active`);
        }
      }
    }
  }

  if (steps.has('client_credentials')) {
    const token = await client.clientCredentialsGrant(config, args.scope ? { scope: args.scope } : {}, dpopOptions);
    emit('client_credentials', tokenFields(token));
    if (steps.has('introspect')) {
      const data = await introspect('client_credentials_token', token.access_token, 'access_token');
      check(data.active, 'a fresh client_credentials token introspects inactive');
    }
    if (steps.has('revoke')) await revoke(token.access_token, 'access_token');
  }

  if (steps.has('device')) {
    const dev = await client.initiateDeviceAuthorization(config, args.scope ? { scope: args.scope } : {});
    emit('device_authorization', {
      user_code_length: dev.user_code.length,
      interval: dev.interval ?? 5,
      expires_in: dev.expires_in,
      verification_uri: dev.verification_uri,
      verification_uri_complete: dev.verification_uri_complete ?? null,
    });
    const before = tokenErrors.length;
    const polling = client.pollDeviceAuthorizationGrant(config, dev);
    polling.catch(() => {}); // awaited below; a failure while the harness approves is not lost
    const pending = await Promise.race([sawPending.then(() => true), polling.then(() => false, () => false)]);
    check(pending, `the server did not answer authorization_pending before approval: ${tokenErrors.slice(before)}`);
    const pendingFields = { error: 'authorization_pending', user_code: dev.user_code, verification_uri: dev.verification_uri, verification_uri_complete: dev.verification_uri_complete ?? null };
    await askHarness('device_pending', 'approval', pendingFields);
    const token = await polling;
    const errors = tokenErrors.slice(before);
    emit('device_token', {
      polls: errors.length + 1,
      slow_downs: errors.filter((e) => e === 'slow_down').length,
      ...tokenFields(token),
    });
  }
  emit('done', { lib: 'openid-client' });
}

main().then(
  () => process.exit(0),
  (e) => {
    const detail = e.error ? ` (${e.error}${e.error_description ? `: ${e.error_description}` : ''})` : '';
    const cause = e.cause && !(e instanceof Failure) ? ` cause: ${JSON.stringify(e.cause)}` : '';
    console.error(`oauth2_client.mjs (openid-client): FAILED: ${e.name}: ${e.message}${detail}${cause}`);
    process.exit(1);
  },
);
