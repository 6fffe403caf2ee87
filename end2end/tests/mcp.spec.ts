import { expect, test, type Page } from "@playwright/test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ClientCredentialsProvider } from "@modelcontextprotocol/sdk/client/auth-extensions.js";
import { hydrated, signUp, uniqueEmail } from "./helpers";

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

    // It found its way by itself: 401 -> protected-resource metadata -> authorization
    // server metadata -> token -> the MCP call again.
    const discovery = [
      "POST /mcp 401",
      "GET /.well-known/oauth-protected-resource/mcp 200",
      "GET /.well-known/oauth-authorization-server 200",
      "POST /mcp/oauth/token 200",
      "POST /mcp 200",
    ];
    expect(requests.slice(0, discovery.length)).toEqual(discovery);
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
