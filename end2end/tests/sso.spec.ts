import type { Browser, Page } from "@playwright/test";
import { execFile, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { expect, freePort, start, test, unique } from "./helpers";

// SPEC §21 against a real OpenID provider (node oidc-provider, external/idp.mjs): single
// sign-on in a browser, and an agent's ID-JAG through the TypeScript SDK's
// CrossAppAccessProvider. A Clavis of its own (`--signup sso-only`), so the provider
// shows on no other test's sign-in page.

const BINARY = path.resolve(__dirname, "..", "..", process.env.CLAVIS_BIN ?? "target/release/clavis");
const IDP = path.resolve(__dirname, "..", "external", "idp.mjs");
const CLIENT = path.resolve(__dirname, "..", "external", "id_jag_client.mjs");

interface World {
  clavis: string;
  idp: string;
  cli: (args: string[], input?: string) => string;
  agent: { client_id: string; client_secret: string };
  processes: ChildProcess[];
  upstream: http.Server;
  /** What the upstream saw of each call: X-Clavis-Subject and X-Clavis-Client-Id. */
  seen: { subject?: string; client?: string }[];
}

let world: World;

/** An MCP upstream (plain HTTP, JSON answers) with one tool, `headers`, answering
 * the Clavis headers it was called with. */
async function startUpstream(seen: World["seen"]): Promise<http.Server> {
  const server = http.createServer(async (request, response) => {
    let body = "";
    for await (const chunk of request) body += chunk;
    const message = body ? JSON.parse(body) : {};
    const answer = (result: unknown) => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ jsonrpc: "2.0", id: message.id, result }));
    };
    if (request.method !== "POST" || message.id === undefined) {
      response.writeHead(202);
      response.end();
    } else if (message.method === "initialize") {
      answer({
        protocolVersion: message.params.protocolVersion,
        capabilities: { tools: {} },
        serverInfo: { name: "headers", version: "1.0.0" },
      });
    } else if (message.method === "tools/list") {
      answer({ tools: [{ name: "headers", inputSchema: { type: "object" } }] });
    } else if (message.method === "tools/call") {
      const headers = {
        subject: request.headers["x-clavis-subject"] as string | undefined,
        client: request.headers["x-clavis-client-id"] as string | undefined,
      };
      seen.push(headers);
      answer({ content: [{ type: "text", text: JSON.stringify(headers) }] });
    } else {
      answer({});
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

test.beforeAll(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clavis-sso-"));
  const database = `sqlite://${dir}/clavis.db?mode=rwc`;
  const [clavisPort, idpPort] = [await freePort(), await freePort()];
  const clavis = `http://127.0.0.1:${clavisPort}`;
  const idp = `http://127.0.0.1:${idpPort}`;
  const cli = (args: string[], input = "correct horse battery staple\n") => {
    const run = spawnSync(BINARY, [...args, "--database-url", database, "--log", "warn"], {
      input,
      encoding: "utf8",
      env: { ...process.env, CLAVIS_ISSUER: clavis },
    });
    expect(run.status, run.stderr).toBe(0);
    return run.stdout;
  };
  const seen: World["seen"] = [];
  const upstream = await startUpstream(seen);
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/mcp`;
  // The first account is the administrator; the agent's credential is its.
  cli(["create-user", "--email", "admin@acme.test"]);
  cli(["server", "add", "--name", "Headers", "--slug", "headers", "--mode", "gateway", "--upstream-url", upstreamUrl, "--access", "everyone"]);
  const agent = JSON.parse(
    cli(["credential", "create", "--user", "admin@acme.test", "--name", "agent", "--server", "@builtin", "--server", "headers"]),
  );
  const added = JSON.parse(
    cli(
      ["idp", "add", "--name", "acme", "--display-name", "Acme", "--issuer", idp, "--client-id", "clavis", "--email-domain", "acme.test"],
      "clavis-secret\n",
    ),
  );
  expect(added).toMatchObject({ name: "acme", issuer: idp, email_domains: ["acme.test"] });
  const listed = cli(["idp", "list"]);
  expect(listed).not.toContain("clavis-secret");
  const redirectUri = JSON.parse(listed)[0].redirect_uri;
  expect(redirectUri).toBe(`${clavis}/sso/acme/callback`);
  const processes = [
    await start("node", [IDP, String(idpPort), clavis, redirectUri, agent.client_id], idpPort),
    await start(
      BINARY,
      ["--addr", `127.0.0.1:${clavisPort}`, "--issuer", clavis, "--database-url", database, "--log", "warn", "--signup", "sso-only"],
      clavisPort,
    ),
  ];
  world = { clavis, idp, cli, agent, processes, upstream, seen };
});

test.afterAll(async () => {
  for (const process of world?.processes ?? []) process.kill();
  world?.upstream.close();
});

/** Signs in through the provider in a fresh browser context as `login`: Clavis's
 * button, the provider's login and consent pages. Returns the page, wherever it ends. */
async function ssoSignIn(browser: Browser, login: string, js = true): Promise<Page> {
  const context = await browser.newContext({ javaScriptEnabled: js });
  const page = await context.newPage();
  await page.goto(`${world.clavis}/login`);
  await page.getByRole("link", { name: "Sign in with Acme" }).click();
  await expect(page).toHaveURL(new RegExp(`^${world.idp}/interaction/`));
  await page.locator("input[name=login]").fill(login);
  await page.locator("input[name=password]").fill("any password");
  await page.getByRole("button", { name: "Sign-in" }).click();
  await page.getByRole("button", { name: "Continue" }).click();
  return page;
}

/** Who the page's session is (the `me` server function). */
async function me(page: Page): Promise<{ id: number; email: string } | null> {
  const response = await page.request.post(`${world.clavis}/api/me`, { headers: { Origin: world.clavis }, form: {} });
  expect(response.ok()).toBe(true);
  return response.json();
}

test.describe("single sign-on (SPEC §21)", () => {
  test("Sign in with Acme creates the account, signs the same person in again, and links a password account", async ({
    browser,
  }) => {
    const email = `ada-${unique()}@acme.test`;
    const first = await ssoSignIn(browser, email);
    await expect(first).toHaveURL(`${world.clavis}/credentials`);
    const created = await me(first);
    expect(created?.email).toBe(email);
    // Another browser, the same person at the provider: the same account.
    const again = await ssoSignIn(browser, email);
    await expect(again).toHaveURL(`${world.clavis}/credentials`);
    expect((await me(again))?.id).toBe(created?.id);

    // An account made with a password (here by the CLI) is linked on its first single
    // sign-on, and the link is audited.
    const linked = `grace-${unique()}@acme.test`;
    const made = world.cli(["create-user", "--email", linked]);
    const id = Number(/id (\d+)/.exec(made)?.[1]);
    const page = await ssoSignIn(browser, linked);
    await expect(page).toHaveURL(`${world.clavis}/credentials`);
    expect(await me(page)).toEqual({ id, email: linked });
    const audit = world.cli(["audit", "--action", "user.linked"]);
    expect(audit).toContain(`${linked} via acme`);
  });

  test("without JavaScript the button and the provider's pages sign in alike", async ({ browser }) => {
    const email = `nojs-${unique()}@acme.test`;
    const page = await ssoSignIn(browser, email, false);
    await expect(page).toHaveURL(`${world.clavis}/credentials`);
    expect((await me(page))?.email).toBe(email);
  });

  test("an unverified email, a domain not allowed, a forged state and a replayed callback are refused with a message", async ({
    browser,
  }) => {
    const unverified = await ssoSignIn(browser, `unverified-${unique()}@acme.test`);
    await expect(unverified).toHaveURL(/\/login\?sso=unverified$/);
    await expect(unverified.getByRole("alert")).toHaveText("Your identity provider has not verified your email address.");
    expect(await me(unverified)).toBeNull();

    const outsider = await ssoSignIn(browser, `eve-${unique()}@evil.test`);
    await expect(outsider).toHaveURL(/\/login\?sso=domain$/);
    await expect(outsider.getByRole("alert")).toHaveText(
      "Your email address's domain may not sign in with this identity provider.",
    );
    expect(await me(outsider)).toBeNull();

    // A callback this browser did not start (an attacker's link with their own code).
    const context = await browser.newContext();
    const forged = await context.newPage();
    await forged.goto(`${world.clavis}/sso/acme/callback?code=stolen&state=forged`);
    await expect(forged).toHaveURL(/\/login\?sso=state$/);
    await expect(forged.getByRole("alert")).toContainText("was not started here");
    expect(await me(forged)).toBeNull();

    // A real callback answered twice: the second time, in the same browser or another,
    // signs nobody in.
    const victim = await browser.newContext();
    const page = await victim.newPage();
    let callback = "";
    page.on("request", (request) => {
      if (request.url().startsWith(`${world.clavis}/sso/acme/callback`)) callback = request.url();
    });
    await page.goto(`${world.clavis}/login`);
    await page.getByRole("link", { name: "Sign in with Acme" }).click();
    await page.locator("input[name=login]").fill(`replay-${unique()}@acme.test`);
    await page.locator("input[name=password]").fill("any password");
    await page.getByRole("button", { name: "Sign-in" }).click();
    await page.getByRole("button", { name: "Continue" }).click();
    await expect(page).toHaveURL(`${world.clavis}/credentials`);
    expect(callback).toContain("code=");
    await forged.goto(callback);
    await expect(forged).toHaveURL(/\/login\?sso=state$/);
    expect(await me(forged)).toBeNull();
    await page.request.post(`${world.clavis}/api/sign_out`, { headers: { Origin: world.clavis }, form: {} });
    expect(await me(page)).toBeNull();
    await page.goto(callback);
    await expect(page).toHaveURL(/\/login\?sso=state$/);
    expect(await me(page)).toBeNull();
  });

  test("--signup sso-only: no password sign-up, the sign-in page offers the provider", async ({ page }) => {
    await page.goto(`${world.clavis}/login`);
    await expect(page.getByRole("link", { name: "Sign in with Acme" })).toBeVisible();
    await expect(page.getByRole("link", { name: "Create one" })).toHaveCount(0);
    await page.goto(`${world.clavis}/signup`);
    await expect(page.getByTestId("signup-off")).toHaveText("Accounts are created by signing in with your identity provider.");
    await expect(page.getByLabel("Password")).toHaveCount(0);
    await expect(page.getByRole("link", { name: "Sign in with Acme" })).toBeVisible();
    // The server function refuses too, whatever the page shows.
    const response = await page.request.post(`${world.clavis}/api/sign_up`, {
      headers: { Origin: world.clavis },
      form: { email: `pw-${unique()}@acme.test`, password: "correct horse battery staple" },
    });
    expect(response.status()).toBe(403);
  });
});

test.describe("ID-JAG (SPEC §21, SEP-990)", () => {
  /** The TypeScript SDK's CrossAppAccessProvider against `url`, for `login`. */
  async function runAgent(url: string, login: string) {
    const idToken = await (await fetch(`${world.idp}/test/id-token?login=${encodeURIComponent(login)}`)).text();
    const { stdout } = await promisify(execFile)(
      "node",
      [CLIENT, url, world.idp, idToken, world.agent.client_id, "agent-secret", world.agent.client_id, world.agent.client_secret],
      { timeout: 45_000 },
    );
    return JSON.parse(stdout) as { tools: string[]; result: Record<string, unknown> };
  }

  test("the SDK trades the person's ID token for an ID-JAG and calls /mcp and a gateway server as them", async ({ browser }) => {
    const email = `agent-user-${unique()}@acme.test`;
    // The person signs in once, so Clavis knows their subject.
    const page = await ssoSignIn(browser, email);
    await expect(page).toHaveURL(`${world.clavis}/credentials`);

    const mcp = await runAgent(`${world.clavis}/mcp`, email);
    expect(mcp.result.client_id).toBe(world.agent.client_id);
    expect(mcp.result.person).toBe(email);

    const gateway = await runAgent(`${world.clavis}/mcp/headers`, email);
    expect(gateway.result).toEqual({ subject: email, client: world.agent.client_id });
    expect(world.seen.at(-1)).toEqual({ subject: email, client: world.agent.client_id });

    // The audit log names the person the credential acted for.
    expect(world.cli(["audit", "--action", "token.issued_for_person"])).toContain(`${email} via acme`);
  });

  test("an ID-JAG for a person Clavis does not know gets no token", async () => {
    const stranger = `nobody-${unique()}@elsewhere.test`;
    await expect(runAgent(`${world.clavis}/mcp`, stranger)).rejects.toThrow(/invalid_grant|names no account/);
  });
});
