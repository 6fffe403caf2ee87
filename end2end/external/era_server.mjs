// An upstream MCP server (TypeScript SDK v2, @modelcontextprotocol/server 2.4, no
// authentication) for the era matrix: the same tools for 2026-07-28 clients and for
// handshake-era (initialize) clients.
//
//   node era_server.mjs PORT        # serves http://127.0.0.1:PORT/mcp
//
// Modern requests (a per-request `_meta` protocol version) go to the SDK's
// createMcpHandler, which serves each one statelessly. Everything else (initialize,
// session requests, GET, DELETE) goes to a sessionful streamable HTTP transport: the
// handler's own legacy fallback is stateless, and a stateless legacy server cannot send
// elicitation or sampling requests to the client. Both legs build their McpServer from
// the same function. `ask` and `sample` return `inputRequired(...)`: the client fulfils it
// on 2026-07-28, and on a legacy session the SDK's shim sends the real elicitation or
// sampling request and calls the tool again with the answer. Log messages reach 2026-07-28
// clients only when the request opts in with `_meta["io.modelcontextprotocol/logLevel"]`.
import { createServer } from "node:http";
import { randomUUID } from "node:crypto";
import {
  McpServer,
  WebStandardStreamableHTTPServerTransport,
  acceptedContent,
  createMcpHandler,
  inputRequired,
  inputResponse,
  isLegacyRequest,
} from "@modelcontextprotocol/server";
import { toNodeHandler } from "@modelcontextprotocol/node";
import { z } from "zod";

const PORT = Number(process.argv[2]);

const text = (value) => ({ content: [{ type: "text", text: value }] });

function mcpServer() {
  const server = new McpServer({ name: "era-upstream-ts", version: "1.0.0" }, { capabilities: { logging: {} } });
  server.registerTool(
    "echo",
    { description: "Returns the text.", inputSchema: z.object({ text: z.string() }) },
    async ({ text: value }) => text(value),
  );
  server.registerTool("secret", { description: "A tool some credentials may not call." }, async () =>
    text("the secret tool ran"),
  );
  server.registerTool(
    "count",
    { description: 'Reports n progress steps and logs "counting".', inputSchema: z.object({ n: z.number().int() }) },
    async ({ n }, ctx) => {
      const progressToken = ctx.mcpReq._meta?.progressToken;
      for (let i = 1; i <= n && progressToken !== undefined; i++) {
        await ctx.mcpReq.notify({ method: "notifications/progress", params: { progressToken, progress: i, total: n } });
      }
      await ctx.mcpReq.log("info", "counting");
      return text(`counted ${n}`);
    },
  );
  server.registerTool("ask", { description: "Asks the user for an answer (elicitation)." }, async (ctx) => {
    const reply = acceptedContent(ctx.mcpReq.inputResponses, "answer");
    if (reply) return text(`you said ${reply.answer}`);
    const requestedSchema = { type: "object", properties: { answer: { type: "string" } }, required: ["answer"] };
    return inputRequired({ inputRequests: { answer: inputRequired.elicit({ message: "Anything to say?", requestedSchema }) } });
  });
  server.registerTool("sample", { description: "Asks the client's model to say something (sampling)." }, async (ctx) => {
    const reply = inputResponse(ctx.mcpReq.inputResponses, "model");
    if (reply.kind === "sampling") return text(`model said ${reply.result.content.text}`);
    const messages = [{ role: "user", content: { type: "text", text: "Say hello." } }];
    return inputRequired({ inputRequests: { model: inputRequired.createMessage({ messages, maxTokens: 20 }) } });
  });
  return server;
}

const modern = createMcpHandler(mcpServer, { legacy: "reject" });

const sessions = new Map();
async function legacy(request) {
  const sessionId = request.headers.get("mcp-session-id");
  if (sessionId) {
    const transport = sessions.get(sessionId);
    return transport ? transport.handleRequest(request) : new Response("unknown session", { status: 404 });
  }
  const transport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: randomUUID,
    onsessioninitialized: (id) => sessions.set(id, transport),
    onsessionclosed: (id) => sessions.delete(id),
  });
  await mcpServer().connect(transport);
  return transport.handleRequest(request);
}

const handler = toNodeHandler({
  fetch: async (request) => ((await isLegacyRequest(request)) ? legacy(request) : modern.fetch(request)),
});
createServer((req, res) => {
  if (req.url !== "/mcp") return res.writeHead(404).end();
  handler(req, res);
}).listen(PORT, "127.0.0.1");
