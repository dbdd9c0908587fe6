// A real OpenID provider for the console's tests: panva's certified oidc-provider,
// on loopback, with its development login and consent pages.
// Usage: node idp.mjs CONFIG.json   (prints "listening PORT" once it serves)
// CONFIG: {"clients": [{"client_id", "redirect_uris"}], "accounts": {"login": {claims}}}
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const server = createServer();

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: config.clients.map((client) => ({
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      ...client,
    })),
    // Custom claims in the ID token itself (the console reads no userinfo).
    conformIdTokenClaims: false,
    claims: { openid: ['sub'], roles: ['roles'], org: ['org'] },
    scopes: ['openid', 'roles', 'org'],
    cookies: { keys: ['console-tests-only'] },
    ttl: { IdToken: 3600 },
    async findAccount(ctx, id) {
      const claims = config.accounts[id];
      if (!claims) return undefined;
      return { accountId: id, async claims() { return { sub: id, ...claims }; } };
    },
  });
  server.on('request', provider.callback());
  process.stdout.write(`listening ${port}\n`);
});
