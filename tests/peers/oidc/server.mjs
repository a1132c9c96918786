// An OpenID Connect provider for Keyward's interop tests: npm's `oidc-provider` (OpenID
// Certified) on 127.0.0.1 with a random port.
//
//   KEYWARD_NODE_MODULES=<peers>/node/node_modules node tests/peers/oidc/server.mjs
//
// Prints `KEYWARD_OIDC_READY <issuer>` on stdout once it listens. One client per token
// endpoint authentication method (client_secret_basic, client_secret_post,
// client_secret_jwt, private_key_jwt, none), each redirecting to http://127.0.0.1:1/cb, a
// native `demo` client redirecting to http://127.0.0.1:<any port>/auth/op (the demo site), and
// a `service` client for the client-credentials grant and a public `device` client for the
// device authorization grant (RFC 8628). Refresh tokens rotate on every use.
// Its signing key is tests/peers/keys/oidc_op_a.pem; private_key_jwt's client key is
// tests/peers/keys/oidc_client.pem. Login and consent use the development interactions
// (`POST /interaction/<uid>` with `prompt=login&login=<sub>`, then `prompt=consent`), which
// the Rust test drives over plain HTTP. Exits when stdin closes or on SIGTERM.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const nodeModules = process.env.KEYWARD_NODE_MODULES;
if (!nodeModules) {
  console.error('set KEYWARD_NODE_MODULES to the node_modules holding oidc-provider');
  process.exit(2);
}
const { default: Provider } = await import(pathToFileURL(join(nodeModules, 'oidc-provider', 'lib', 'index.js')).href);

const keys = fileURLToPath(new URL('../keys/', import.meta.url));
const opKey = { ...createPrivateKey(readFileSync(join(keys, 'oidc_op_a.pem'))).export({ format: 'jwk' }), kid: 'op-a', alg: 'RS256', use: 'sig' };
const clientJwk = { ...createPublicKey(readFileSync(join(keys, 'oidc_client.pem'))).export({ format: 'jwk' }), kid: 'client-key', alg: 'RS256', use: 'sig' };

const redirect = 'http://127.0.0.1:1/cb';
const common = {
  redirect_uris: [redirect],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
};
const secret = 'keyward-interop-secret-0123456789abcdef';
const clients = [
  { ...common, client_id: 'basic', client_secret: secret, token_endpoint_auth_method: 'client_secret_basic' },
  { ...common, client_id: 'post', client_secret: secret, token_endpoint_auth_method: 'client_secret_post' },
  { ...common, client_id: 'jwt', client_secret: secret, token_endpoint_auth_method: 'client_secret_jwt' },
  { ...common, client_id: 'pkjwt', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [clientJwk] } },
  { ...common, client_id: 'public', token_endpoint_auth_method: 'none' },
  // The demo site (crates/keyward-demo) as a real browser reaches it: a native client, so
  // that its loopback redirect URI matches on any port (RFC 8252 §7.3).
  {
    ...common,
    client_id: 'demo',
    client_secret: secret,
    token_endpoint_auth_method: 'client_secret_basic',
    application_type: 'native',
    redirect_uris: ['http://127.0.0.1/auth/op'],
  },
  {
    client_id: 'service',
    client_secret: secret,
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  },
  {
    client_id: 'device',
    token_endpoint_auth_method: 'none',
    grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
    response_types: [],
    redirect_uris: [],
  },
];

// The third-party OAuth 2 clients (tests/peers/python/oauth2_client.py,
// tests/peers/node/oauth2_client.mjs): one client per token endpoint authentication method,
// each allowed every grant those scripts drive.
const peerGrants = ['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code'];
clients.push(
  { ...common, client_id: 'peer-basic', client_secret: secret, token_endpoint_auth_method: 'client_secret_basic', grant_types: peerGrants },
  { ...common, client_id: 'peer-post', client_secret: secret, token_endpoint_auth_method: 'client_secret_post', grant_types: peerGrants },
  { ...common, client_id: 'peer-public', token_endpoint_auth_method: 'none', grant_types: peerGrants.filter((g) => g !== 'client_credentials') },
);

const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients,
  jwks: { keys: [opKey] },
  cookies: { keys: ['keyward-interop-cookie-key'] },
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true, allowedPolicy: async () => true },
    revocation: { enabled: true, allowedPolicy: async () => true },
  },
  // Refresh tokens for every client that has the grant, offline_access or not, rotated on
  // every use (a reused refresh token revokes the grant: single-flight refresh matters).
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: () => true,
  async findAccount(_ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, email: `${sub}@example.com`, email_verified: true, name: `User ${sub}` };
      },
    };
  },
  ttl: { AccessToken: 600, IdToken: 600, RefreshToken: 3600 },
});
provider.on('server_error', (_ctx, err) => console.error('server_error', err));
server.on('request', provider.callback());
// RFC 8414 metadata for the OAuth 2 peer clients: the discovery document under the name
// an OAuth 2 authorization server publishes it (oidc-provider serves only OpenID Discovery's).
server.prependListener('request', (req) => {
  if (req.url === '/.well-known/oauth-authorization-server') req.url = '/.well-known/openid-configuration';
});

console.log(`KEYWARD_OIDC_READY ${issuer}`);

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
