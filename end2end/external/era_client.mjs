// The official TypeScript MCP client (SDK v2, @modelcontextprotocol/client 2.4) in one era
// mode against an MCP server (directly, or through Clavis's gateway): the client half of
// the era matrix.
//
//   node era_client.mjs URL CLIENT_ID SECRET MODE [ALG KEYFILE]
//
// MODE is the SDK's versionNegotiation mode: `auto` (server/discover, falling back to
// initialize), `legacy` (initialize; the SDK's default) or `pin` ({pin: "2026-07-28"}: no
// fallback). CLIENT_ID `-` means no authentication (a direct run against an upstream
// server); otherwise the SDK gets a token with the client-credentials grant from the URL's
// origin: with SECRET (ClientCredentialsProvider) or, when ALG and KEYFILE (a PEM private
// key) are given, with a signed assertion (PrivateKeyJwtProvider; SECRET is then ignored).
//
// Lists the tools and calls echo, count (progress and log collected), ask (elicitation,
// answered "yes") and sample (sampling, answered "hello"). Prints one JSON line:
// {"version", "tools", "echo", "count", "progress", "logs", "ask", "sample"} — or, where no
// echo is listed (Clavis's own /mcp), {"version", "tools", "whoami"}; exits 1 with the
// error on stderr on any failure or after 30 s.
import { createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import {
  Client,
  ClientCredentialsProvider,
  LOG_LEVEL_META_KEY,
  PrivateKeyJwtProvider,
  StreamableHTTPClientTransport,
} from "@modelcontextprotocol/client";

const [url, clientId, secret, mode, alg, keyFile] = process.argv.slice(2);

function fail(error) {
  console.error(`era client failed: ${error}`);
  process.exit(1);
}
setTimeout(() => fail("timed out after 30 s"), 30_000).unref();

function authProvider() {
  if (clientId === "-") return undefined;
  const expectedIssuer = new URL(url).origin;
  if (alg) {
    // As a JWK: the SDK reads a PEM string only for RS*, ES* and PS* ("Unsupported algorithm EdDSA").
    const privateKey = createPrivateKey(readFileSync(keyFile)).export({ format: "jwk" });
    return new PrivateKeyJwtProvider({ clientId, privateKey, algorithm: alg, expectedIssuer });
  }
  return new ClientCredentialsProvider({ clientId, clientSecret: secret, expectedIssuer });
}

function text(result) {
  if (result.isError) throw new Error(`tool error: ${JSON.stringify(result.content)}`);
  return result.content.filter((c) => c.type === "text").map((c) => c.text).join("");
}

async function main() {
  const client = new Client(
    { name: "clavis-era-client", version: "1.0.0" },
    {
      capabilities: { elicitation: { form: {} }, sampling: {} },
      versionNegotiation: { mode: mode === "pin" ? { pin: "2026-07-28" } : mode },
    },
  );
  const logs = [];
  let progress = 0;
  client.setNotificationHandler("notifications/message", (notification) => logs.push(notification.params.data));
  client.setRequestHandler("elicitation/create", async () => ({ action: "accept", content: { answer: "yes" } }));
  client.setRequestHandler("sampling/createMessage", async () => ({
    role: "assistant",
    content: { type: "text", text: "hello" },
    model: "test",
  }));

  await client.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider: authProvider() }));
  const { tools } = await client.listTools();
  if (!tools.some((tool) => tool.name === "echo")) {
    // Clavis's own /mcp.
    const whoami = text(await client.callTool({ name: "whoami", arguments: {} }));
    console.log(JSON.stringify({ version: client.getNegotiatedProtocolVersion(), tools: tools.map((t) => t.name), whoami }));
    await client.close();
    process.exit(0);
  }
  const output = {
    version: client.getNegotiatedProtocolVersion(),
    tools: tools.map((tool) => tool.name).sort(),
    echo: text(await client.callTool({ name: "echo", arguments: { text: "hi" } })),
    // The 2026-07-28 opt-in to log messages; handshake-era servers send them anyway.
    count: text(
      await client.callTool(
        { name: "count", arguments: { n: 3 }, _meta: { [LOG_LEVEL_META_KEY]: "info" } },
        { onprogress: () => progress++ },
      ),
    ),
    progress,
    logs,
    ask: text(await client.callTool({ name: "ask", arguments: {} })),
    sample: text(await client.callTool({ name: "sample", arguments: {} })),
  };
  await client.close();
  console.log(JSON.stringify(output));
  process.exit(0);
}

main().catch(fail);
