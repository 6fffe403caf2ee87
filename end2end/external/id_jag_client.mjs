// The official TypeScript MCP client (SDK v2, @modelcontextprotocol/client 2.4) acting
// for a person with MCP's Enterprise-Managed Authorization (SEP-990): its
// CrossAppAccessProvider trades the person's ID token at their identity provider for an
// ID-JAG (RFC 8693 token exchange), presents the ID-JAG at Clavis's token endpoint (the
// JWT bearer grant, with the credential's client_id and secret) and calls the server
// with the access token it gets.
//
//   node id_jag_client.mjs URL IDP_URL ID_TOKEN IDP_CLIENT_ID IDP_CLIENT_SECRET CLIENT_ID SECRET
//
// Lists the tools and calls the first of `whoami` (Clavis's own /mcp) or `headers` (the
// test's upstream). Prints one JSON line: {"tools", "result"}; exits 1 with the error on
// stderr on any failure or after 30 s.
import {
  Client,
  CrossAppAccessProvider,
  StreamableHTTPClientTransport,
  discoverAndRequestJwtAuthGrant,
} from "@modelcontextprotocol/client";

const [url, idpUrl, idToken, idpClientId, idpClientSecret, clientId, secret] = process.argv.slice(2);

function fail(error) {
  console.error(`id-jag client failed: ${error?.stack ?? error}`);
  process.exit(1);
}
setTimeout(() => fail("timed out after 30 s"), 30_000).unref();

async function main() {
  const authProvider = new CrossAppAccessProvider({
    assertion: async (ctx) => {
      const grant = await discoverAndRequestJwtAuthGrant({
        idpUrl,
        audience: ctx.authorizationServerUrl,
        resource: ctx.resourceUrl,
        idToken,
        clientId: idpClientId,
        clientSecret: idpClientSecret,
        scope: ctx.scope,
        fetchFn: ctx.fetchFn,
      });
      return grant.jwtAuthGrant;
    },
    clientId,
    clientSecret: secret,
    expectedIssuer: new URL(url).origin,
  });
  const client = new Client({ name: "clavis-id-jag-client", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider }));
  const { tools } = await client.listTools();
  const name = tools.some((t) => t.name === "whoami") ? "whoami" : "headers";
  const result = await client.callTool({ name, arguments: {} });
  if (result.isError) throw new Error(`tool error: ${JSON.stringify(result.content)}`);
  const text = result.content.filter((c) => c.type === "text").map((c) => c.text).join("");
  console.log(JSON.stringify({ tools: tools.map((t) => t.name), result: JSON.parse(text) }));
  await client.close();
  process.exit(0);
}

main().catch(fail);
