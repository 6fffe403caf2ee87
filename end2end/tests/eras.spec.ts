// Both eras of MCP (SPEC §17) with the official SDKs: the Python `mcp` 2.x `Client` and
// the TypeScript `@modelcontextprotocol/client` 2.x, each in every mode it has, against
// three upstreams — a dual-era Python `MCPServer`, a dual-era TypeScript
// `@modelcontextprotocol/server` 2.x and a handshake-era-only TypeScript SDK 1.x server —
// directly and through Clavis's gateway, and at Clavis's own /mcp. Clavis must never
// change the era: whatever a client reaches directly (version, tools, a call, progress,
// a log message, an elicitation and a sampling request crossing back) it reaches through
// the gateway, and what fails directly fails through it too. The scripts print one JSON
// line; they are in end2end/python and end2end/external (versions pinned in
// requirements.txt and package.json).
import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { addServer, expect, freePort, hydrated, signInAsAdmin, start, test, unique } from "./helpers";

const PYTHON = path.join(__dirname, "..", ".venv", "bin", "python");
const PY = path.join(__dirname, "..", "python");
const EXTERNAL = path.join(__dirname, "..", "external");
const MODERN = "2026-07-28";
const HANDSHAKE = "2025-11-25";

/** One client in one mode: how to run it, and the version it should reach. */
type Client = { name: string; command: string; script: string; mode: string; modern: boolean };
const CLIENTS: Client[] = [
  { name: "Python auto", command: PYTHON, script: path.join(PY, "era_client.py"), mode: "auto", modern: true },
  { name: "Python 2026-07-28", command: PYTHON, script: path.join(PY, "era_client.py"), mode: MODERN, modern: true },
  { name: "Python legacy", command: PYTHON, script: path.join(PY, "era_client.py"), mode: "legacy", modern: false },
  { name: "TypeScript auto", command: "node", script: path.join(EXTERNAL, "era_client.mjs"), mode: "auto", modern: true },
  { name: "TypeScript pin", command: "node", script: path.join(EXTERNAL, "era_client.mjs"), mode: "pin", modern: true },
  { name: "TypeScript legacy", command: "node", script: path.join(EXTERNAL, "era_client.mjs"), mode: "legacy", modern: false },
];

type Outcome = { ok: true; out: Record<string, unknown> } | { ok: false; error: string };

async function run(client: Client, url: string, id = "-", secret = "-", ...extra: string[]): Promise<Outcome> {
  try {
    const { stdout } = await promisify(execFile)(client.command, [client.script, url, id, secret, client.mode, ...extra], {
      timeout: 45_000,
    });
    return { ok: true, out: JSON.parse(stdout) };
  } catch (error) {
    const failure = error as { stderr?: string; message?: string };
    return { ok: false, error: failure.stderr || failure.message || String(error) };
  }
}

/** What a run of the whole tool set must give. */
const FULL = {
  tools: ["ask", "count", "echo", "sample", "secret"],
  echo: "hi",
  count: "counted 3",
  progress: 3,
  logs: ["counting"],
  ask: "you said yes",
  sample: "model said hello",
};

test.describe("Both eras of MCP", () => {
  test.setTimeout(300_000);

  test("every official SDK client in every mode reaches the same era through the gateway as directly", async ({
    browser,
    baseURL,
  }) => {
    const ports = [await freePort(), await freePort(), await freePort()];
    const upstreams = [
      await start(PYTHON, [path.join(PY, "era_server.py"), String(ports[0])], ports[0]),
      await start("node", [path.join(EXTERNAL, "era_server.mjs"), String(ports[1])], ports[1]),
      await start("node", [path.join(EXTERNAL, "legacy_server.mjs"), String(ports[2])], ports[2]),
    ];
    try {
      const id = unique();
      const servers = [
        { name: `Py dual ${id}`, slug: `py-dual-${id}`.slice(0, 40), port: ports[0], dual: true },
        { name: `Ts dual ${id}`, slug: `ts-dual-${id}`.slice(0, 40), port: ports[1], dual: true },
        { name: `Ts legacy ${id}`, slug: `ts-old-${id}`.slice(0, 40), port: ports[2], dual: false },
      ];
      const admin = await browser.newPage();
      await signInAsAdmin(admin);
      for (const server of servers) {
        await addServer(admin, {
          name: server.name,
          slug: server.slug,
          mode: "Gateway",
          upstream: `http://127.0.0.1:${server.port}/mcp`,
        });
      }

      // One credential for the three servers and /mcp; the form offers the tools they list.
      await admin.getByRole("link", { name: "Credentials" }).click();
      await admin.getByRole("link", { name: "New credential" }).click();
      await hydrated(admin);
      await admin.getByLabel("Name").fill(`eras ${id}`);
      const granted = admin.getByRole("group", { name: "Servers" });
      for (const server of servers) await granted.getByLabel(server.name, { exact: true }).check();
      const listed = admin.getByRole("group", { name: "Tools the servers list" });
      for (const tool of FULL.tools) await expect(listed).toContainText(tool);
      await expect(listed).toContainText(servers[2].name);
      await admin.getByRole("button", { name: "Create credential" }).click();
      const clientId = (await admin.getByTestId("client-id").textContent()) ?? "";
      const clientSecret = (await admin.getByTestId("client-secret").textContent()) ?? "";
      expect(clientSecret).toMatch(/^clvs_/);

      for (const server of servers) {
        const direct = `http://127.0.0.1:${server.port}/mcp`;
        const through = `${baseURL}/mcp/${server.slug}`;
        for (const client of CLIENTS) {
          const cell = `${client.name} → ${server.name}`;
          const [alone, gateway] = await Promise.all([run(client, direct), run(client, through, clientId, clientSecret)]);
          // What the upstream alone gives, the gateway gives.
          expect(gateway.ok, `${cell}: ${gateway.ok ? "" : gateway.error}`).toBe(alone.ok);
          if (!alone.ok || !gateway.ok) {
            // Only a client pinned to the modern era fails, and only with the old server.
            expect(server.dual || !client.modern || client.mode === "auto", `${cell}: ${alone.ok ? "" : alone.error}`).toBe(false);
            continue;
          }
          expect(gateway.out, cell).toEqual(alone.out);
          expect(gateway.out, cell).toMatchObject({ ...FULL, version: server.dual && client.modern ? MODERN : HANDSHAKE });
        }
      }

      // Clavis's own /mcp: both eras too.
      for (const client of CLIENTS) {
        const own = await run(client, `${baseURL}/mcp`, clientId, clientSecret);
        expect(own.ok, `${client.name} → /mcp: ${own.ok ? "" : own.error}`).toBe(true);
        if (own.ok) {
          expect(own.out.version, client.name).toBe(client.modern ? MODERN : HANDSHAKE);
          expect(String(own.out.whoami), client.name).toContain(clientId);
        }
      }
    } finally {
      for (const upstream of upstreams) upstream.kill();
    }
  });

  test("a private_key_jwt credential limited to the tools ticked on the form, in the modern era", async ({
    browser,
    baseURL,
  }) => {
    const port = await freePort();
    const upstream = await start("node", [path.join(EXTERNAL, "era_server.mjs"), String(port)], port);
    try {
      const id = unique();
      const name = `Ts jwt ${id}`;
      const slug = `ts-jwt-${id}`.slice(0, 40);
      const admin = await browser.newPage();
      await signInAsAdmin(admin);
      await addServer(admin, { name, slug, mode: "Gateway", upstream: `http://127.0.0.1:${port}/mcp` });

      const { publicKey, privateKey } = generateKeyPairSync("ed25519");
      const keyFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "clavis-e2e-")), "ed25519.pem");
      fs.writeFileSync(keyFile, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });

      await admin.getByRole("link", { name: "Credentials" }).click();
      await admin.getByRole("link", { name: "New credential" }).click();
      await hydrated(admin);
      await admin.getByLabel("Name").fill(`jwt ${id}`);
      const granted = admin.getByRole("group", { name: "Servers" });
      await granted.getByLabel("Built-in (whoami)").uncheck();
      await granted.getByLabel(name, { exact: true }).check();
      const listed = admin.getByRole("group", { name: "Tools the servers list" });
      for (const tool of ["ask", "count", "echo", "sample"]) {
        await listed.locator(`input[value="${tool}"]`).check();
      }
      await admin.getByLabel("Authentication").selectOption({ label: "Private key JWT" });
      await admin.getByLabel("Public key").fill(publicKey.export({ type: "spki", format: "pem" }).toString());
      await admin.getByRole("button", { name: "Create credential" }).click();
      const clientId = (await admin.getByTestId("client-id").textContent()) ?? "";
      expect(clientId).toMatch(/^clv_/);

      const typescript = CLIENTS.find((c) => c.name === "TypeScript auto") as Client;
      const outcome = await run(typescript, `${baseURL}/mcp/${slug}`, clientId, "-", "EdDSA", keyFile);
      expect(outcome.ok, outcome.ok ? "" : outcome.error).toBe(true);
      if (outcome.ok) {
        // The unticked tool is not listed: the narrowed list crossed in the modern era.
        expect(outcome.out).toMatchObject({ ...FULL, tools: ["ask", "count", "echo", "sample"], version: MODERN });
      }
    } finally {
      upstream.kill();
    }
  });
});
