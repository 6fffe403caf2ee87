import type { Page } from "@playwright/test";
import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ClientCredentialsProvider, PrivateKeyJwtProvider } from "@modelcontextprotocol/sdk/client/auth-extensions.js";
import * as fs from "node:fs";
import * as os from "node:os";
import * as jose from "jose";
import { expect, hydrated, signUp, test, uniqueEmail } from "./helpers";

/** Signs up, creates a credential in the dashboard and reads the one-time view. */
async function createCredential(
  page: Page,
  baseURL: string | undefined,
  name: string,
): Promise<{ clientId: string; clientSecret: string }> {
  await signUp(page, uniqueEmail());
  await expect(page).toHaveURL(/\/credentials$/);
  await page.getByRole("link", { name: "New credential" }).click();
  await hydrated(page);
  await page.getByLabel("Name").fill(name);
  await page.getByRole("button", { name: "Create credential" }).click();
  const clientSecret = (await page.getByTestId("client-secret").textContent()) ?? "";
  const clientId = (await page.getByTestId("client-id").textContent()) ?? "";
  expect(clientSecret).toMatch(/^clvs_/);
  // The one-time view tells MCP users what to configure.
  const snippet = page.locator("figure.snippet").filter({ hasText: "Use with MCP clients" });
  await expect(snippet).toContainText(`${baseURL}/mcp`);
  await expect(snippet).toContainText("Authorization: Bearer");
  await expect(snippet).toContainText(clientId);
  return { clientId, clientSecret };
}

/** The official TypeScript MCP client, given only the server URL, client id and secret.
 * Every HTTP request it makes is recorded as "METHOD path status". */
function sdkClient(serverUrl: string, clientId: string, clientSecret: string) {
  const requests: string[] = [];
  const recordingFetch = async (input: string | URL | Request, init?: RequestInit) => {
    const response = await fetch(input, init);
    const url = new URL(input instanceof Request ? input.url : input.toString());
    requests.push(`${init?.method ?? "GET"} ${url.pathname} ${response.status}`);
    return response;
  };
  const authProvider = new ClientCredentialsProvider({
    clientId,
    clientSecret,
    // Derived from the server URL alone: credentials go only to this origin.
    expectedIssuer: new URL(serverUrl).origin,
  });
  const transport = new StreamableHTTPClientTransport(new URL(serverUrl), { authProvider, fetch: recordingFetch });
  const client = new Client({ name: "clavis-e2e", version: "1.0.0" });
  return { client, transport, requests };
}

/** What an SDK does by itself, given only the URL, client id and secret: 401 ->
 * protected-resource metadata -> authorization server metadata -> token -> MCP again. */
const DISCOVERY = [
  "POST /mcp 401",
  "GET /.well-known/oauth-protected-resource/mcp 200",
  "GET /.well-known/oauth-authorization-server 200",
  "POST /mcp/oauth/token 200",
  "POST /mcp 200",
];

test.describe("MCP with the TypeScript SDK", () => {
  test("discovers, gets a token with client credentials and calls whoami", async ({ page, baseURL }) => {
    const { clientId, clientSecret } = await createCredential(page, baseURL, "TS agent");
    const { client, transport, requests } = sdkClient(`${baseURL}/mcp`, clientId, clientSecret);

    await client.connect(transport);
    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name)).toEqual(["whoami"]);
    const result = await client.callTool({ name: "whoami", arguments: {} });

    expect(result.isError).not.toBe(true);
    expect(result.structuredContent).toMatchObject({
      credential_name: "TS agent",
      client_id: clientId,
      scopes: ["mcp"],
    });
    const text = (result.content as Array<{ type: string; text: string }>)[0];
    expect(text.type).toBe("text");
    expect(JSON.parse(text.text)).toEqual(result.structuredContent);

    expect(requests.slice(0, DISCOVERY.length)).toEqual(DISCOVERY);
    expect(requests.filter((r) => r.startsWith("POST /mcp/oauth/token"))).toHaveLength(1);
    await client.close();
  });

  test("after revoking the credential in the dashboard the next call is refused", async ({ page, baseURL }) => {
    const { clientId, clientSecret } = await createCredential(page, baseURL, "Soon revoked");
    const { client, transport, requests } = sdkClient(`${baseURL}/mcp`, clientId, clientSecret);
    await client.connect(transport);
    await client.callTool({ name: "whoami", arguments: {} });

    await page.goto("/credentials");
    await hydrated(page);
    const row = page.getByTestId("credential-row").filter({ hasText: clientId });
    await row.getByRole("button", { name: "Revoke" }).click();
    await page.getByRole("button", { name: "Revoke credential" }).click();
    await expect(row).toContainText("Revoked");

    const before = requests.length;
    await expect(client.callTool({ name: "whoami", arguments: {} })).rejects.toThrow();
    // The token was refused at once, and getting a new one failed too.
    expect(requests.slice(before)).toContain("POST /mcp 401");
    expect(requests.slice(before)).toContain("POST /mcp/oauth/token 401");
    await client.close();
  });
});

test.describe("MCP with the Python SDK", () => {
  test("discovers, gets a token with client credentials and calls whoami", async ({ page, baseURL }) => {
    const { clientId, clientSecret } = await createCredential(page, baseURL, "Python agent");
    // The official `mcp` package, pinned in end2end/python/requirements.txt and installed
    // into end2end/.venv by scripts/setup.sh --test.
    const python = path.join(__dirname, "..", ".venv", "bin", "python");
    const script = path.join(__dirname, "..", "python", "mcp_sdk_check.py");
    const { stdout } = await promisify(execFile)(python, [script, `${baseURL}/mcp`, clientId, clientSecret], {
      timeout: 30_000,
    });
    const result = JSON.parse(stdout);

    expect(result.tools).toEqual(["whoami"]);
    expect(result.is_error).toBe(false);
    expect(result.structured).toMatchObject({ credential_name: "Python agent", client_id: clientId, scopes: ["mcp"] });
    expect(JSON.parse(result.text[0])).toEqual(result.structured);
    expect(result.requests.slice(0, DISCOVERY.length)).toEqual(DISCOVERY);
  });
});

test.describe("MCP with private_key_jwt", () => {
  test("a key pair registered in the dashboard: the TypeScript and Python SDKs sign their way to whoami", async ({
    page,
    baseURL,
  }) => {
    // Two key pairs made here: ES256 for TypeScript, Ed25519 for Python. Both public
    // keys are pasted into the form as PEM; the private keys never leave this test.
    const es = await jose.generateKeyPair("ES256", { extractable: true });
    const ed = await jose.generateKeyPair("Ed25519", { extractable: true });
    const publicPem = `${await jose.exportSPKI(es.publicKey)}\n${await jose.exportSPKI(ed.publicKey)}`;

    await signUp(page, uniqueEmail());
    await expect(page).toHaveURL(/\/credentials$/);
    await page.getByRole("link", { name: "New credential" }).click();
    await hydrated(page);
    await page.getByLabel("Name").fill("JWT agent");
    await page.getByLabel("Authentication").selectOption({ label: "Private key JWT" });
    await page.getByLabel("Public key").fill(publicPem);
    await page.getByRole("button", { name: "Create credential" }).click();
    const clientId = (await page.getByTestId("client-id").textContent()) ?? "";
    expect(clientId).toMatch(/^clv_/);
    await expect(page.getByTestId("client-secret")).toHaveCount(0);
    await expect(page.getByText("This credential has no secret")).toBeVisible();

    const requests: string[] = [];
    const recordingFetch = async (input: string | URL | Request, init?: RequestInit) => {
      const response = await fetch(input, init);
      const url = new URL(input instanceof Request ? input.url : input.toString());
      requests.push(`${init?.method ?? "GET"} ${url.pathname} ${response.status}`);
      return response;
    };
    const authProvider = new PrivateKeyJwtProvider({
      clientId,
      privateKey: await jose.exportPKCS8(es.privateKey),
      algorithm: "ES256",
      expectedIssuer: new URL(`${baseURL}/mcp`).origin,
    });
    const transport = new StreamableHTTPClientTransport(new URL(`${baseURL}/mcp`), { authProvider, fetch: recordingFetch });
    const client = new Client({ name: "clavis-e2e-jwt", version: "1.0.0" });
    await client.connect(transport);
    const result = await client.callTool({ name: "whoami", arguments: {} });
    expect(result.structuredContent).toMatchObject({ credential_name: "JWT agent", client_id: clientId });
    expect(requests.slice(0, DISCOVERY.length)).toEqual(DISCOVERY);
    await client.close();

    const keyFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "clavis-e2e-")), "ed25519.pem");
    fs.writeFileSync(keyFile, await jose.exportPKCS8(ed.privateKey), { mode: 0o600 });
    const python = path.join(__dirname, "..", ".venv", "bin", "python");
    const script = path.join(__dirname, "..", "python", "mcp_sdk_check.py");
    const { stdout } = await promisify(execFile)(python, [script, `${baseURL}/mcp`, clientId, `key:EdDSA:${keyFile}`], {
      timeout: 30_000,
    });
    const py = JSON.parse(stdout);
    expect(py.is_error).toBe(false);
    expect(py.structured).toMatchObject({ credential_name: "JWT agent", client_id: clientId });
    expect(py.requests.slice(0, DISCOVERY.length)).toEqual(DISCOVERY);
  });
});
