// npm `openid-client` (panva) as an OpenID Connect relying party against an OpenID Provider
// (issue 16 interop), with every ID token's signature checked against the provider's JWKS
// (`enableNonRepudiationChecks`) on top of the library's claim checks (iss, aud, exp, iat,
// nonce, at_hash, auth_time against max_age). Steps, in this order, each optional:
//
//   code         OpenID Connect Discovery, then code + PKCE S256 + nonce + state; the ID token
//                is required and validated
//   userinfo     the UserInfo endpoint with the access token; its `sub` must be the ID token's
//   refresh      refresh_token grant: a new ID token, validated, with the same sub, iss and
//                auth_time
//   prompt_none  prompt=none twice: through the harness (a signed-in browser) it yields a
//                code and a validated ID token; fetched by the script itself (a browser with
//                no session) it ends in `login_required`
//   max_age      max_age=0 after a pause: the harness must sign in again, and the new ID
//                token's auth_time is not before the request
//   logout       RP-Initiated Logout (`buildEndSessionUrl` with id_token_hint,
//                post_logout_redirect_uri and state) through the harness; the state must come
//                back, and prompt=none afterwards must end in `login_required`
//
//   KEYWARD_NODE_MODULES=<peers>/node/node_modules node oidc_client.mjs --issuer URL
//       --client-id ID [--client-secret S] [--auth-method client_secret_basic|client_secret_post|none]
//       --redirect-uri URI [--scope "openid profile email"] [--steps code,userinfo,...]
//       [--post-logout-redirect-uri URI]
//
// One JSON object per line on stdout, never a token's value; lines with "await" wait for the
// harness's answer on stdin (the URL the browser ended at). Exits non-zero, with a message on
// stderr, on any failure.
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const STEPS = ['code', 'userinfo', 'refresh', 'prompt_none', 'max_age', 'logout'];

const { values: args } = parseArgs({
  options: {
    issuer: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'auth-method': { type: 'string', default: 'client_secret_basic' },
    'redirect-uri': { type: 'string' },
    'post-logout-redirect-uri': { type: 'string' },
    scope: { type: 'string', default: 'openid profile email' },
    steps: { type: 'string', default: STEPS.join(',') },
  },
});

class Failure extends Error {}
const check = (cond, msg) => {
  if (!cond) throw new Failure(msg);
};
const emit = (step, fields = {}) => console.log(JSON.stringify({ step, ...fields }));

const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function askHarness(step, url) {
  console.log(JSON.stringify({ step, url, await: 'callback' }));
  const { value, done } = await stdin.next();
  check(!done, `${step}: the harness closed stdin instead of answering`);
  return value.trim();
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The protected header of a compact JWS (what the library verified the signature with).
const header = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString('utf8'));

async function main() {
  const modules = process.env.KEYWARD_NODE_MODULES;
  check(modules, 'set KEYWARD_NODE_MODULES to the node_modules holding openid-client');
  const client = await import(pathToFileURL(join(modules, 'openid-client', 'build', 'index.js')).href);
  const steps = new Set(args.steps.split(','));
  for (const s of steps) check(STEPS.includes(s), `unknown step ${s}; known: ${STEPS}`);
  check(args.issuer && args['client-id'] && args['redirect-uri'], '--issuer, --client-id and --redirect-uri are required');
  check(!steps.has('logout') || args['post-logout-redirect-uri'], 'the logout step needs --post-logout-redirect-uri');

  const method = args['auth-method'];
  const secret = args['client-secret'];
  const auth = {
    client_secret_basic: () => client.ClientSecretBasic(secret),
    client_secret_post: () => client.ClientSecretPost(secret),
    none: () => client.None(),
  }[method];
  check(auth, `unknown --auth-method ${method}`);
  check(method === 'none' || secret, `--auth-method ${method} needs --client-secret`);

  // OpenID Connect Discovery 1.0: the issuer in the document must be the one asked for.
  const config = await client.discovery(new URL(args.issuer), args['client-id'], secret, auth(), {
    execute: [client.allowInsecureRequests],
  });
  // Every ID token's JWS signature is checked against jwks_uri, not only its claims.
  client.enableNonRepudiationChecks(config);
  const meta = config.serverMetadata();
  emit('metadata', {
    issuer: meta.issuer,
    authorization_endpoint: meta.authorization_endpoint ?? null,
    userinfo_endpoint: meta.userinfo_endpoint ?? null,
    jwks_uri: meta.jwks_uri ?? null,
    end_session_endpoint: meta.end_session_endpoint ?? null,
    id_token_signing_alg_values_supported: meta.id_token_signing_alg_values_supported ?? null,
    subject_types_supported: meta.subject_types_supported ?? null,
    scopes_supported: meta.scopes_supported ?? null,
    response_types_supported: meta.response_types_supported ?? null,
  });

  const redirectUri = args['redirect-uri'];
  // One authorization: the URL, the user's part (the harness, or a plain fetch with no
  // session when `noSession`), the callback checked and the code exchanged.
  async function authorize(step, extra = {}, { noSession = false, maxAge } = {}) {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: args.scope,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...extra,
    }).href;
    let callback;
    if (noSession) {
      const res = await fetch(url, { redirect: 'manual' });
      callback = new URL(res.headers.get('location') ?? '', url).href;
      check([302, 303].includes(res.status) && callback.startsWith(redirectUri),
        `${step}: the authorization request did not redirect to ${redirectUri}: HTTP ${res.status}`);
    } else {
      callback = await askHarness(step, url);
    }
    const checks = { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true };
    if (maxAge !== undefined) checks.maxAge = maxAge;
    return client.authorizationCodeGrant(config, new URL(callback), checks);
  }

  const idTokenFields = (token) => {
    const claims = token.claims();
    const h = header(token.id_token);
    return {
      iss: claims.iss,
      aud: claims.aud,
      sub: claims.sub,
      azp: claims.azp ?? null,
      auth_time: claims.auth_time ?? null,
      nonce_checked: 'nonce' in claims,
      at_hash: typeof claims.at_hash === 'string',
      sid: claims.sid ?? null,
      alg: h.alg,
      kid: h.kid ?? null,
      claims: Object.keys(claims).sort(),
      signature_checked: true,
    };
  };

  let token;
  let first;
  if (steps.has('code')) {
    token = await authorize('authorize');
    first = token.claims();
    emit('code', { token_type: token.token_type ?? null, refresh_token: Boolean(token.refresh_token), scope: token.scope ?? null, ...idTokenFields(token) });
  }

  if (steps.has('userinfo')) {
    check(token, 'the userinfo step needs the code step');
    // The library refuses a `sub` other than the ID token's (OIDC Core §5.3.4).
    const info = await client.fetchUserInfo(config, token.access_token, first.sub);
    emit('userinfo', { ...info, sub_matches_id_token: info.sub === first.sub });
    // A forged access token is refused with the bearer error (RFC 6750 §3.1).
    const refused = await client.fetchUserInfo(config, `${token.access_token}x`, first.sub).then(() => null, (e) => e);
    check(refused, 'the userinfo endpoint accepted a forged access token');
    emit('userinfo_forged', { status: refused.status ?? refused.cause?.status ?? null, error: refused.error ?? null });
  }

  if (steps.has('refresh')) {
    check(token?.refresh_token, 'no refresh token to refresh with');
    const fresh = await client.refreshTokenGrant(config, token.refresh_token);
    const fields = { id_token: Boolean(fresh.id_token), rotated: Boolean(fresh.refresh_token) && fresh.refresh_token !== token.refresh_token };
    if (fresh.id_token) {
      const c = fresh.claims();
      Object.assign(fields, idTokenFields(fresh), {
        same_sub: c.sub === first.sub,
        same_iss: c.iss === first.iss,
        same_auth_time: c.auth_time === first.auth_time,
      });
    }
    emit('refresh', fields);
    token = { ...token, ...fresh, refresh_token: fresh.refresh_token ?? token.refresh_token };
  }

  if (steps.has('prompt_none')) {
    const silent = await authorize('authorize_prompt_none', { prompt: 'none' });
    emit('prompt_none', { with_session: 'code', ...idTokenFields(silent), same_sub: silent.claims().sub === first?.sub });
    const refused = await authorize('authorize_prompt_none_no_session', { prompt: 'none' }, { noSession: true }).then(() => null, (e) => e);
    check(refused, 'prompt=none with no session yielded a code');
    emit('prompt_none_no_session', { error: refused.error ?? null, name: refused.name });
  }

  if (steps.has('max_age')) {
    check(first, 'the max_age step needs the code step');
    // auth_time is in seconds: a pause makes a new sign-in visible in it.
    await sleep(1100);
    const asked = Math.floor(Date.now() / 1000);
    const again = await authorize('authorize_max_age', { max_age: '0' }, { maxAge: 0 });
    const c = again.claims();
    // A new sign-in: at or after the request, so after the first one.
    emit('max_age', { ...idTokenFields(again), signed_in_again: typeof c.auth_time === 'number' && c.auth_time >= asked });
  }

  if (steps.has('logout')) {
    check(token?.id_token, 'the logout step needs an ID token');
    const state = client.randomState();
    const postLogout = args['post-logout-redirect-uri'];
    const url = client.buildEndSessionUrl(config, {
      id_token_hint: token.id_token,
      post_logout_redirect_uri: postLogout,
      state,
    }).href;
    const back = new URL(await askHarness('end_session', url));
    check(back.href.startsWith(postLogout), `end_session did not send the browser back to ${postLogout}: ${back.href}`);
    const stateBack = back.searchParams.get('state');
    check(stateBack === state, `end_session returned state ${stateBack}`);
    // The provider's session ended: prompt=none in the same browser is now refused.
    const after = await authorize('authorize_after_logout', { prompt: 'none' }).then(() => null, (e) => e);
    check(after, 'prompt=none after logout yielded a code');
    emit('logout', { post_logout_redirect: true, state_matched: true, after_logout: after.error ?? null });
  }
  emit('done', { lib: 'openid-client' });
}

main().then(
  () => process.exit(0),
  (e) => {
    const detail = e.error ? ` (${e.error}${e.error_description ? `: ${e.error_description}` : ''})` : '';
    const cause = e.cause && !(e instanceof Failure) ? ` cause: ${JSON.stringify(e.cause)}` : '';
    console.error(`oidc_client.mjs (openid-client): FAILED: ${e.name}: ${e.message}${detail}${cause}`);
    process.exit(1);
  },
);
