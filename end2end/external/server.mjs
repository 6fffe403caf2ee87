// An MCP server (TypeScript SDK, plain ESM) that checks Clavis access tokens itself: an
// *external* server in Clavis. Clavis's dashboard shows this file (with your issuer and
// resource URL filled in) on the page of every external server, and
// end2end/tests/servers.spec.ts runs it and calls it with a token from Clavis.
//
//   npm install @modelcontextprotocol/sdk jose express zod
//   node server.mjs [ISSUER RESOURCE_URL PORT]
//
// Tokens are JWTs (RFC 9068, EdDSA) signed by the keys at <issuer>/.well-known/jwks.json;
// `jose` checks the signature, `typ: at+jwt`, issuer, audience and expiry, the SDK the
// `mcp` scope. A JWT check does not see a revocation before the token expires: for that,
// ask <issuer>/mcp/oauth/introspect.
import { createRemoteJWKSet, jwtVerify } from "jose";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { createMcpExpressApp } from "@modelcontextprotocol/sdk/server/express.js";
import { requireBearerAuth } from "@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js";
import {
  mcpAuthMetadataRouter,
  getOAuthProtectedResourceMetadataUrl,
} from "@modelcontextprotocol/sdk/server/auth/router.js";
import { InvalidTokenError } from "@modelcontextprotocol/sdk/server/auth/errors.js";
import { z } from "zod";

const [ISSUER, RESOURCE_URL, PORT] =
  process.argv.length > 4 ? process.argv.slice(2, 5) : ["https://clavis.example.com", "https://mcp.example.com/mcp", "8000"];

const jwks = createRemoteJWKSet(new URL(`${ISSUER}/.well-known/jwks.json`));

/** The SDK's OAuthTokenVerifier for Clavis access tokens. */
const verifier = {
  async verifyAccessToken(token) {
    try {
      const { payload } = await jwtVerify(token, jwks, {
        issuer: ISSUER,
        audience: RESOURCE_URL,
        typ: "at+jwt",
        algorithms: ["EdDSA"],
        requiredClaims: ["exp", "iat", "client_id", "scope"],
      });
      return {
        token,
        clientId: String(payload.client_id),
        scopes: String(payload.scope).split(" "),
        expiresAt: payload.exp,
        resource: new URL(RESOURCE_URL),
      };
    } catch {
      throw new InvalidTokenError("not a valid Clavis access token for this server");
    }
  },
};

function mcpServer() {
  const server = new McpServer({ name: "docs", version: "1.0.0" });
  server.registerTool(
    "hello",
    { description: "Greets the caller.", inputSchema: { name: z.string() } },
    async ({ name }) => ({ content: [{ type: "text", text: `Hello, ${name}!` }] }),
  );
  return server;
}

const app = createMcpExpressApp();
const oauthMetadata = await (await fetch(`${ISSUER}/.well-known/oauth-authorization-server`)).json();
app.use(mcpAuthMetadataRouter({ oauthMetadata, resourceServerUrl: new URL(RESOURCE_URL), scopesSupported: ["mcp"] }));
const auth = requireBearerAuth({
  verifier,
  requiredScopes: ["mcp"],
  expectedResource: new URL(RESOURCE_URL),
  resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(new URL(RESOURCE_URL)),
});
app.post(new URL(RESOURCE_URL).pathname, auth, async (req, res) => {
  // Stateless: a server and transport per request.
  const server = mcpServer();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on("close", () => {
    transport.close();
    server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(req, res, req.body);
});
app.listen(Number(PORT), "127.0.0.1");
