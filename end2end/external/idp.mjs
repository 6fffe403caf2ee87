// The end-to-end tests' identity provider: node oidc-provider (9.13) with its
// development login and consent pages, a client for Clavis's single sign-on, and an
// agent client that trades a person's ID token for an ID-JAG (MCP Enterprise-Managed
// Authorization, SEP-990) with an RFC 8693 token exchange this file adds.
//
//   node idp.mjs PORT CLAVIS_ISSUER SSO_REDIRECT_URI AGENT_CLIENT_ID
//
// Anyone signs in with any password; the login name is the person's `sub` and email
// (a name without `@` gets `@acme.test`), verified unless it starts with `unverified`.
// The agent client's id at the provider is its credential's client id at Clavis (the
// ID-JAG's `client_id`); its secret is `agent-secret`, Clavis's is `clavis-secret`.
// `GET /test/id-token?login=NAME` mints the person's ID token for the agent (what an
// agent holds after its own sign-in), for the tests only.
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { createServer } from "node:http";
import Provider, { errors } from "oidc-provider";
import { SignJWT, createLocalJWKSet, importJWK, jwtVerify } from "jose";

const [port, clavisIssuer, redirectUri, agentClientId] = process.argv.slice(2);
const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token";
const ID_JAG_TYPE = "urn:ietf:params:oauth:token-type:id-jag";

const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
const jwk = { ...privateKey.export({ format: "jwk" }), alg: "ES256", use: "sig", kid: "idp-1" };
const { d: _private, ...publicJwk } = jwk;
const signingKey = await importJWK(jwk, "ES256");
const ownKeys = createLocalJWKSet({ keys: [publicJwk] });
const issuer = `http://127.0.0.1:${port}`;

function claimsOf(login) {
  const email = login.includes("@") ? login : `${login}@acme.test`;
  return { email, email_verified: !login.startsWith("unverified") };
}

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: "clavis",
      client_secret: "clavis-secret",
      grant_types: ["authorization_code"],
      response_types: ["code"],
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: "client_secret_basic",
      id_token_signed_response_alg: "ES256",
    },
    {
      client_id: agentClientId,
      client_secret: "agent-secret",
      grant_types: ["authorization_code", TOKEN_EXCHANGE],
      response_types: ["code"],
      redirect_uris: ["http://127.0.0.1/agent-callback"],
      token_endpoint_auth_method: "client_secret_post",
      id_token_signed_response_alg: "ES256",
    },
  ],
  jwks: { keys: [jwk] },
  scopes: ["openid", "email", "profile"],
  claims: { openid: ["sub"], email: ["email", "email_verified"] },
  // The email claims in the ID token itself (not only at the userinfo endpoint).
  conformIdTokenClaims: false,
  cookies: { keys: ["e2e-idp-cookies"] },
  features: { devInteractions: { enabled: true } },
  async findAccount(_ctx, sub) {
    return { accountId: sub, claims: async () => ({ sub, ...claimsOf(sub) }) };
  },
});

// RFC 8693: an ID token of this provider, for the agent, becomes an ID-JAG for the
// audience (an authorization server) and resource asked.
provider.registerGrantType(
  TOKEN_EXCHANGE,
  async (ctx) => {
    const { client } = ctx.oidc;
    const p = ctx.oidc.params;
    if (p.requested_token_type !== ID_JAG_TYPE) throw new errors.InvalidRequest("unsupported requested_token_type");
    if (p.subject_token_type !== ID_TOKEN_TYPE) throw new errors.InvalidRequest("unsupported subject_token_type");
    if (p.audience !== clavisIssuer) throw new errors.InvalidTarget("unknown audience");
    let person;
    try {
      ({ payload: person } = await jwtVerify(p.subject_token ?? "", ownKeys, { issuer, audience: client.clientId }));
    } catch {
      throw new errors.InvalidGrant("subject_token invalid");
    }
    const now = Math.floor(Date.now() / 1000);
    const jag = await new SignJWT({
      client_id: client.clientId,
      jti: randomUUID(),
      email: person.email,
      ...(p.resource ? { resource: p.resource } : {}),
      ...(p.scope ? { scope: p.scope } : {}),
    })
      .setProtectedHeader({ alg: "ES256", kid: jwk.kid, typ: "oauth-id-jag+jwt" })
      .setIssuer(issuer)
      .setSubject(person.sub)
      .setAudience(p.audience)
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(signingKey);
    ctx.body = {
      access_token: jag,
      issued_token_type: ID_JAG_TYPE,
      token_type: "N_A",
      expires_in: 300,
      ...(p.scope ? { scope: p.scope } : {}),
    };
  },
  ["subject_token", "subject_token_type", "requested_token_type", "audience", "resource", "scope"],
);

const handle = provider.callback();
createServer(async (request, response) => {
  const url = new URL(request.url, issuer);
  if (url.pathname === "/test/id-token") {
    const client = await provider.Client.find(agentClientId);
    const login = url.searchParams.get("login") ?? "";
    const token = new provider.IdToken({ sub: login, ...claimsOf(login) }, { client });
    token.scope = "openid email";
    response.writeHead(200, { "content-type": "text/plain" });
    response.end(await token.issue({ use: "idtoken" }));
    return;
  }
  handle(request, response);
}).listen(Number(port), "127.0.0.1");
