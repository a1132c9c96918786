// npm `openid-client` (panva): Dynamic Client Registration (RFC 7591) at an authorization
// server on 127.0.0.1, through its RFC 8414 metadata (`registration_endpoint`), with an
// initial access token. Prints one JSON line: what the server registered (the client id and
// secret are printed: the harness runs a flow with them next; the registration access token
// is not, only whether there was one).
//
//   KEYWARD_NODE_MODULES=<peers>/node/node_modules node register_client.mjs --issuer URL
//       --initial-access-token T --metadata '{"redirect_uris": [...], ...}'
//
// Exits non-zero, with a message on stderr, on any failure (a refused registration too).
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    issuer: { type: 'string' },
    'initial-access-token': { type: 'string' },
    metadata: { type: 'string' },
  },
});

async function main() {
  const modules = process.env.KEYWARD_NODE_MODULES;
  if (!modules) throw new Error('set KEYWARD_NODE_MODULES to the node_modules holding openid-client');
  const client = await import(pathToFileURL(join(modules, 'openid-client', 'build', 'index.js')).href);
  const metadata = JSON.parse(args.metadata);
  const auth = metadata.token_endpoint_auth_method === 'none' ? client.None() : undefined;
  const config = await client.dynamicClientRegistration(new URL(args.issuer), metadata, auth, {
    algorithm: 'oauth2',
    initialAccessToken: args['initial-access-token'],
    execute: [client.allowInsecureRequests],
  });
  const registered = config.clientMetadata();
  console.log(
    JSON.stringify({
      step: 'registered',
      registration_endpoint: config.serverMetadata().registration_endpoint,
      client_id: registered.client_id,
      client_secret: registered.client_secret ?? null,
      client_secret_expires_at: registered.client_secret_expires_at ?? null,
      token_endpoint_auth_method: registered.token_endpoint_auth_method,
      redirect_uris: registered.redirect_uris,
      grant_types: registered.grant_types,
      scope: registered.scope ?? null,
      registration_client_uri: registered.registration_client_uri,
      registration_access_token: typeof registered.registration_access_token === 'string',
      lib: 'openid-client',
    }),
  );
}

main().then(
  () => process.exit(0),
  (e) => {
    const detail = e.error ? ` (${e.error}${e.error_description ? `: ${e.error_description}` : ''})` : '';
    console.error(`register_client.mjs (openid-client): FAILED: ${e.name}: ${e.message}${detail}`);
    process.exit(1);
  },
);
