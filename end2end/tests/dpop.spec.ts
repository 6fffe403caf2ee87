// DPoP (SPEC §19) with the official TypeScript MCP client 2.x (@modelcontextprotocol/client,
// pinned in package.json): a credential made in the dashboard with **Require DPoP**, the
// SDK's DpopSession getting a bound token and calling /mcp and a gateway server, and each
// misuse of the copied token refused; then a Clavis demanding nonces, made with the CLI's
// --require-dpop, where the SDK answers the nonce challenges by itself.
import { execFile, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { addServer, expect, freePort, hydrated, signInAsAdmin, start, test, unique } from "./helpers";

const EXTERNAL = path.join(__dirname, "..", "external");
const CLIENT = path.join(EXTERNAL, "dpop_client.mjs");
const BINARY = path.resolve(__dirname, "..", "..", process.env.CLAVIS_BIN ?? "target/release/clavis");

type Run = {
  tokenType: string;
  jkt: string;
  thumbprint: string;
  tools: string[];
  result: string;
  requests: string[];
  copied: Record<string, string>;
};

async function runClient(url: string, id: string, secret: string): Promise<Run> {
  try {
    const { stdout } = await promisify(execFile)("node", [CLIENT, url, id, secret], { timeout: 45_000 });
    return JSON.parse(stdout);
  } catch (error) {
    const failure = error as { stderr?: string; message?: string };
    throw new Error(failure.stderr || failure.message || String(error));
  }
}

/** What a copied token gets, each way it is misused (RFC 9449 §7's errors). */
function expectRefused(copied: Record<string, string>, nonces = false) {
  expect(copied.bearer).toBe("401 invalid_token");
  expect(copied.noProof).toBe("401 invalid_dpop_proof");
  // With nonces demanded, a stranger's proof lacks the nonce before it lacks the key.
  expect(copied.otherKey).toBe(nonces ? "401 use_dpop_nonce" : "401 invalid_dpop_proof");
  expect(copied.otherUrl).toBe("401 invalid_dpop_proof");
  expect(copied.otherMethod).toBe("401 invalid_dpop_proof");
  expect(copied.stale).toBe("401 invalid_dpop_proof");
  expect(copied.firstUse).not.toMatch(/^401/);
  expect(copied.reusedJti).toBe("401 invalid_dpop_proof");
  expect(copied.wrongAth).toBe("401 invalid_dpop_proof");
}

test.describe("DPoP with the TypeScript SDK", () => {
  test.setTimeout(180_000);

  test("a credential requiring DPoP gets bound tokens the SDK uses at /mcp and a gateway; copies are refused", async ({
    browser,
    baseURL,
  }) => {
    const port = await freePort();
    const upstream = await start("node", [path.join(EXTERNAL, "era_server.mjs"), String(port)], port);
    try {
      const id = unique();
      const server = { name: `Bound ${id}`, slug: `bound-${id}`.slice(0, 40) };
      const admin = await browser.newPage();
      await signInAsAdmin(admin);
      await addServer(admin, {
        name: server.name,
        slug: server.slug,
        mode: "Gateway",
        upstream: `http://127.0.0.1:${port}/mcp`,
      });
      await admin.getByRole("link", { name: "Credentials" }).click();
      await admin.getByRole("link", { name: "New credential" }).click();
      await hydrated(admin);
      await admin.getByLabel("Name").fill(`dpop ${id}`);
      const granted = admin.getByRole("group", { name: "Servers" });
      await granted.getByLabel(server.name, { exact: true }).check();
      await admin.getByLabel("Require DPoP").check();
      await admin.getByRole("button", { name: "Create credential" }).click();
      const clientId = (await admin.getByTestId("client-id").textContent()) ?? "";
      const clientSecret = (await admin.getByTestId("client-secret").textContent()) ?? "";
      expect(clientSecret).toMatch(/^clvs_/);

      // A plain token request, as every client without DPoP sends it, is refused.
      const plain = await fetch(`${baseURL}/mcp/oauth/token`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString("base64")}`,
        },
        body: "grant_type=client_credentials",
      });
      expect(plain.status).toBe(400);
      expect((await plain.json()).error).toBe("invalid_dpop_proof");

      const own = await runClient(`${baseURL}/mcp`, clientId, clientSecret);
      expect(own.tokenType).toBe("DPoP");
      expect(own.jkt).toBe(own.thumbprint);
      expect(own.tools).toEqual(["whoami"]);
      expect(own.result).toContain(clientId);
      expect(own.requests).toContain("POST /mcp/oauth/token 200 DPoP");
      // Before it has a token the SDK asks without one (and is told where to get one);
      // after, every call carries a proof.
      const calls = own.requests.filter((r) => r.startsWith("POST /mcp "));
      expect(calls[0]).toBe("POST /mcp 401");
      expect(calls.slice(1).length).toBeGreaterThan(1);
      for (const call of calls.slice(1)) expect(call).toMatch(/^POST \/mcp 20[02] DPoP$/);
      expect(own.copied.holder).toBe("200");
      expectRefused(own.copied);

      const through = await runClient(`${baseURL}/mcp/${server.slug}`, clientId, clientSecret);
      expect(through.tokenType).toBe("DPoP");
      expect(through.tools).toContain("echo");
      expect(through.result).toContain("bound");
      expect(through.copied.holder).not.toMatch(/^401/);
      expectRefused(through.copied);

      // The credential's page says its tokens are bound.
      await admin.goto(`/credentials/${clientId}`);
      await expect(admin.getByTestId("token-binding")).toHaveText("DPoP-bound (DPoP required)");
    } finally {
      upstream.kill();
    }
  });

  test("a Clavis demanding nonces: the SDK retries with the nonce at the token endpoint and at /mcp", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clavis-dpop-"));
    const database = `sqlite://${dir}/clavis.db?mode=rwc`;
    const port = await freePort();
    const email = `dpop-${unique()}@example.com`;
    const cli = (...args: string[]) => {
      const run = spawnSync(BINARY, [...args, "--database-url", database, "--log", "warn"], {
        input: "correct horse battery staple\n",
        encoding: "utf8",
      });
      expect(run.status, run.stderr).toBe(0);
      return run.stdout;
    };
    cli("create-user", "--email", email);
    const created = JSON.parse(cli("credential", "create", "--user", email, "--name", "nonce", "--require-dpop"));
    expect(created.require_dpop).toBe(true);
    const clavis = await start(
      BINARY,
      ["--addr", `127.0.0.1:${port}`, "--database-url", database, "--log", "warn", "--dpop-nonce"],
      port,
    );
    try {
      const run = await runClient(`http://127.0.0.1:${port}/mcp`, created.client_id, created.client_secret);
      expect(run.tokenType).toBe("DPoP");
      expect(run.result).toContain(created.client_id);
      // Told to use a nonce at the token endpoint, and at /mcp only once the client
      // forgot it: every answer to a proof carries the nonce to use next.
      const tokenRequests = run.requests.filter((r) => r.startsWith("POST /mcp/oauth/token"));
      expect(tokenRequests).toEqual(["POST /mcp/oauth/token 400 DPoP", "POST /mcp/oauth/token 200 DPoP"]);
      const calls = run.requests.filter((r) => r.startsWith("POST /mcp "));
      expect(calls.filter((r) => r === "POST /mcp 401 DPoP")).toHaveLength(1);
      expect(calls.at(-1)).toBe("POST /mcp 200 DPoP");
      expect(run.copied.holder).toBe("200");
      expectRefused(run.copied, true);
    } finally {
      clavis.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
