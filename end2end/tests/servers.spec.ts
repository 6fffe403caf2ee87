import type { Page } from "@playwright/test";
import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ClientCredentialsProvider } from "@modelcontextprotocol/sdk/client/auth-extensions.js";
import {
  addServer,
  expect,
  freePort,
  hydrated,
  signInAsAdmin,
  signUp,
  start,
  test,
  unique,
  uniqueEmail,
} from "./helpers";

const PYTHON = path.join(__dirname, "..", ".venv", "bin", "python");
const SCRIPTS = path.join(__dirname, "..", "python");

/** Signs up a new person and creates a credential granted only `serverName`. */
async function credentialFor(page: Page, serverName: string, allowedTools = "") {
  await signUp(page, uniqueEmail());
  await expect(page).toHaveURL(/\/credentials$/);
  await page.getByRole("link", { name: "New credential" }).click();
  await hydrated(page);
  await page.getByLabel("Name").fill(`agent for ${serverName}`);
  const servers = page.getByRole("group", { name: "Servers" });
  await expect(servers.getByLabel("Built-in (whoami)")).toBeChecked();
  await servers.getByLabel("Built-in (whoami)").uncheck();
  await servers.getByLabel(serverName, { exact: true }).check();
  await page.getByLabel("Allowed tools").fill(allowedTools);
  await page.getByRole("button", { name: "Create credential" }).click();
  const clientSecret = (await page.getByTestId("client-secret").textContent()) ?? "";
  const clientId = (await page.getByTestId("client-id").textContent()) ?? "";
  expect(clientSecret).toMatch(/^clvs_/);
  return { clientId, clientSecret };
}

/** The official TypeScript client with client credentials, given only URL, id, secret. */
async function typescriptClient(serverUrl: string, clientId: string, clientSecret: string, issuer: string) {
  const authProvider = new ClientCredentialsProvider({ clientId, clientSecret, expectedIssuer: issuer });
  const transport = new StreamableHTTPClientTransport(new URL(serverUrl), { authProvider });
  const client = new Client({ name: "clavis-e2e", version: "1.0.0" });
  await client.connect(transport);
  return client;
}

async function pythonClient(
  serverUrl: string,
  clientId: string,
  clientSecret: string,
  tool: string,
  args: object,
  issuer: string,
) {
  const script = path.join(SCRIPTS, "mcp_sdk_check.py");
  const { stdout } = await promisify(execFile)(
    PYTHON,
    [script, serverUrl, clientId, clientSecret, tool, JSON.stringify(args), issuer],
    { timeout: 30_000 },
  );
  return JSON.parse(stdout);
}

function text(result: Awaited<ReturnType<Client["callTool"]>>): string {
  return (result.content as Array<{ type: string; text: string }>)[0].text;
}

test.describe("MCP servers", () => {
  test.setTimeout(90_000);

  test("a gateway server registered by the administrator serves both SDKs, limited to the allowed tools", async ({
    browser,
    baseURL,
  }) => {
    const port = await freePort();
    const upstream = await start(PYTHON, [path.join(SCRIPTS, "upstream_server.py"), String(port)], port);
    try {
      const id = unique();
      const name = `Docs ${id}`;
      const slug = `docs-${id}`.toLowerCase().slice(0, 40);
      const admin = await browser.newPage();
      await signInAsAdmin(admin);
      const row = await addServer(admin, { name, slug, mode: "Gateway", upstream: `http://127.0.0.1:${port}/mcp` });
      await expect(row.getByTestId("resource-url")).toHaveText(`${baseURL}/mcp/${slug}`);
      // The header value never comes back to the page.
      expect(await admin.content()).not.toContain("upstream-key-e2e");

      const person = await browser.newPage();
      const { clientId, clientSecret } = await credentialFor(person, name, "search");
      // People see the servers, not the administrator's controls, and cannot add one by hand.
      await person.getByRole("link", { name: "MCP servers" }).click();
      await expect(person.getByTestId("server-row").filter({ hasText: name })).toBeVisible();
      await expect(person.getByRole("link", { name: "Add server" })).toHaveCount(0);
      await expect(person.getByRole("button", { name: "Remove" })).toHaveCount(0);
      const handcrafted = await person.request.post("/api/servers/add", {
        headers: { Origin: baseURL ?? "" },
        form: { name: "mine", slug: `mine-${slug}`.slice(0, 40), mode: "gateway", upstream_url: "http://127.0.0.1:9/mcp" },
      });
      expect(handcrafted.status()).toBe(403);

      const url = `${baseURL}/mcp/${slug}`;
      const ts = await typescriptClient(url, clientId, clientSecret, new URL(url).origin);
      expect((await ts.listTools()).tools.map((t) => t.name)).toEqual(["search"]);
      expect(text(await ts.callTool({ name: "search", arguments: { query: "gateway" } }))).toBe(
        "results for gateway",
      );
      await expect(ts.callTool({ name: "secret", arguments: {} })).rejects.toThrow(/not allowed/);
      await ts.close();

      const py = await pythonClient(url, clientId, clientSecret, "search", { query: "python" }, new URL(url).origin);
      expect(py.tools).toEqual(["search"]);
      expect(py.is_error).toBe(false);
      expect(py.text).toEqual(["results for python"]);
      expect(py.requests).toContain(`GET /.well-known/oauth-protected-resource/mcp/${slug} 200`);
    } finally {
      upstream.kill();
    }
  });

  test("external servers check Clavis tokens themselves with the examples the dashboard shows", async ({
    browser,
    baseURL,
  }) => {
    const issuer = baseURL ?? "";
    const [pyPort, tsPort] = [await freePort(), await freePort()];
    const pyResource = `http://127.0.0.1:${pyPort}/mcp`;
    const tsResource = `http://127.0.0.1:${tsPort}/mcp`;
    const id = unique();
    const admin = await browser.newPage();
    await signInAsAdmin(admin);
    const pyRow = await addServer(admin, { name: `Py ${id}`, slug: `py-${id}`.slice(0, 40), mode: "External", resource: pyResource });
    await expect(pyRow.getByTestId("resource-url")).toHaveText(pyResource);
    await addServer(admin, { name: `Ts ${id}`, slug: `ts-${id}`.slice(0, 40), mode: "External", resource: tsResource });

    // The server's page has what the server needs, and examples filled in for it.
    await pyRow.getByRole("link", { name: `Py ${id}` }).click();
    await expect(admin.getByText(`${issuer}/.well-known/jwks.json`)).toBeVisible();
    const python = admin.locator("figure.snippet").filter({ hasText: "external_server.py" });
    await expect(python).toContainText(`ISSUER = "${issuer}"`);
    await expect(python).toContainText(`RESOURCE_URL = "${pyResource}"`);
    await expect(admin.locator("figure.snippet").filter({ hasText: "server.mjs" })).toContainText("jwtVerify");

    const pyServer = await start(
      PYTHON,
      [path.join(SCRIPTS, "external_server.py"), issuer, pyResource, String(pyPort)],
      pyPort,
    );
    const tsServer = await start(
      "node",
      [path.join(__dirname, "..", "external", "server.mjs"), issuer, tsResource, String(tsPort)],
      tsPort,
    );
    try {
      const person = await browser.newPage();
      const py = await credentialFor(person, `Py ${id}`);
      const result = await pythonClient(pyResource, py.clientId, py.clientSecret, "hello", { name: "Clavis" }, issuer);
      expect(result.is_error).toBe(false);
      expect(result.text).toEqual(["Hello, Clavis!"]);
      // The token came from Clavis, for this server.
      expect(result.requests).toContain("POST /mcp/oauth/token 200");

      const other = await browser.newPage();
      const ts = await credentialFor(other, `Ts ${id}`);
      const client = await typescriptClient(tsResource, ts.clientId, ts.clientSecret, issuer);
      expect(text(await client.callTool({ name: "hello", arguments: { name: "TS" } }))).toBe("Hello, TS!");
      await client.close();

      // A token for the Python server is refused by the TypeScript one (wrong audience).
      const tokenForPy = await fetch(`${issuer}/mcp/oauth/token`, {
        method: "POST",
        headers: {
          Authorization: `Basic ${btoa(`${py.clientId}:${py.clientSecret}`)}`,
          "Content-Type": "application/x-www-form-urlencoded",
        },
        body: new URLSearchParams({ grant_type: "client_credentials", resource: pyResource }),
      }).then((r) => r.json());
      const refused = await fetch(tsResource, {
        method: "POST",
        headers: {
          Authorization: `Bearer ${tokenForPy.access_token}`,
          "Content-Type": "application/json",
          Accept: "application/json, text/event-stream",
        },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
      });
      expect(refused.status).toBe(401);

      // The administrator removes one, confirming in place.
      await admin.goto("/servers");
      await hydrated(admin);
      const tsRow = admin.getByTestId("server-row").filter({ hasText: `Ts ${id}` });
      await tsRow.getByRole("button", { name: "Remove", exact: true }).click();
      await tsRow.getByRole("group", { name: "Confirm removal" }).getByRole("button", { name: "Remove server" }).click();
      await expect(admin.getByTestId("server-row").filter({ hasText: `Ts ${id}` })).toHaveCount(0);
    } finally {
      pyServer.kill();
      tsServer.kill();
    }
  });
});
