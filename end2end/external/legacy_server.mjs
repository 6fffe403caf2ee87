// An upstream MCP server (TypeScript SDK v1, @modelcontextprotocol/sdk 1.32.2, no
// authentication) for the era matrix: handshake era only (up to 2025-11-25), with stateful
// sessions, as most servers deployed before 2026-07-28 are.
//
//   node legacy_server.mjs PORT      # serves http://127.0.0.1:PORT/mcp
//
// `ask` and `sample` send elicitation and sampling requests to the client on the tool
// call's own SSE stream. A request without a session that is not `initialize` (such as a
// 2026-07-28 client's server/discover probe) gets the SDK examples' answer, 400 with a
// JSON-RPC error, after which an `auto` client falls back to initialize.
import { randomUUID } from "node:crypto";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { createMcpExpressApp } from "@modelcontextprotocol/sdk/server/express.js";
import { CreateMessageResultSchema, ElicitResultSchema, isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";

const PORT = Number(process.argv[2]);

const text = (value) => ({ content: [{ type: "text", text: value }] });

function mcpServer() {
  const server = new McpServer({ name: "era-upstream-legacy", version: "1.0.0" }, { capabilities: { logging: {} } });
  server.registerTool("echo", { description: "Returns the text.", inputSchema: { text: z.string() } }, async ({ text: value }) =>
    text(value),
  );
  server.registerTool("secret", { description: "A tool some credentials may not call." }, async () =>
    text("the secret tool ran"),
  );
  server.registerTool(
    "count",
    { description: 'Reports n progress steps and logs "counting".', inputSchema: { n: z.number().int() } },
    async ({ n }, extra) => {
      const progressToken = extra._meta?.progressToken;
      for (let i = 1; i <= n && progressToken !== undefined; i++) {
        await extra.sendNotification({ method: "notifications/progress", params: { progressToken, progress: i, total: n } });
      }
      await extra.sendNotification({ method: "notifications/message", params: { level: "info", data: "counting" } });
      return text(`counted ${n}`);
    },
  );
  server.registerTool("ask", { description: "Asks the user for an answer (elicitation)." }, async (extra) => {
    const requestedSchema = { type: "object", properties: { answer: { type: "string" } }, required: ["answer"] };
    const reply = await extra.sendRequest(
      { method: "elicitation/create", params: { message: "Anything to say?", requestedSchema } },
      ElicitResultSchema,
    );
    return text(`you said ${reply.content?.answer}`);
  });
  server.registerTool("sample", { description: "Asks the client's model to say something (sampling)." }, async (extra) => {
    const messages = [{ role: "user", content: { type: "text", text: "Say hello." } }];
    const reply = await extra.sendRequest(
      { method: "sampling/createMessage", params: { messages, maxTokens: 20 } },
      CreateMessageResultSchema,
    );
    return text(`model said ${reply.content.text}`);
  });
  return server;
}

const transports = new Map();
const app = createMcpExpressApp();
app.all("/mcp", async (req, res) => {
  const sessionId = req.headers["mcp-session-id"];
  let transport = transports.get(sessionId);
  if (!transport) {
    const [status, message] = sessionId ? [404, "Session not found"] : [400, "Bad Request: No valid session ID provided"];
    if (sessionId || !isInitializeRequest(req.body)) {
      return res.status(status).json({ jsonrpc: "2.0", error: { code: -32000, message }, id: null });
    }
    transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: randomUUID,
      onsessioninitialized: (id) => transports.set(id, transport),
    });
    transport.onclose = () => transports.delete(transport.sessionId);
    await mcpServer().connect(transport);
  }
  await transport.handleRequest(req, res, req.body);
});
app.listen(PORT, "127.0.0.1");
