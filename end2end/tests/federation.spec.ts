import type { Page } from "@playwright/test";
import * as crypto from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  expect,
  hydrated,
  signIn,
  signUp,
  test,
  unique,
  uniqueEmail,
} from "./helpers";

/** A test OpenID Connect issuer on loopback: a discovery document and one Ed25519 key,
 * and tokens it signs, shaped like a Kubernetes service-account token's. */
interface Issuer {
  url: string;
  mint: (claims: Record<string, unknown>) => string;
  close: () => Promise<void>;
}

async function startIssuer(): Promise<Issuer> {
  const { publicKey, privateKey } = crypto.generateKeyPairSync("ed25519");
  const jwk = { ...publicKey.export({ format: "jwk" }), kid: "e2e-1", alg: "EdDSA", use: "sig" };
  let url = "";
  const server = http.createServer((request, response) => {
    const body =
      request.url === "/.well-known/openid-configuration"
        ? { issuer: url, jwks_uri: `${url}/jwks` }
        : request.url === "/jwks"
          ? { keys: [jwk] }
          : undefined;
    response.writeHead(body ? 200 : 404, { "content-type": "application/json" });
    response.end(JSON.stringify(body ?? {}));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const mint = (claims: Record<string, unknown>) => {
    const now = Math.floor(Date.now() / 1000);
    const input = `${part({ alg: "EdDSA", typ: "JWT", kid: "e2e-1" })}.${part({
      iss: url,
      iat: now,
      exp: now + 300,
      jti: crypto.randomUUID(),
      ...claims,
    })}`;
    return `${input}.${crypto.sign(null, Buffer.from(input), privateKey).toString("base64url")}`;
  };
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      // Clavis keeps its connection for the next key fetch.
      server.closeAllConnections();
    });
  return { url, mint, close };
}

/** Trusts `url` as `name` on the Trusted issuers page (as the signed-in administrator). */
async function addIssuer(page: Page, name: string, url: string, js: boolean) {
  await page.goto("/issuers");
  if (js) await hydrated(page);
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("Issuer URL").fill(url);
  await page.getByRole("button", { name: "Add issuer" }).click();
  await expect(page).toHaveURL(/\/issuers$/);
  await expect(page.getByTestId("issuer-row").filter({ hasText: name })).toContainText("OpenID Connect discovery");
}

/** The token endpoint's answer to a workload token. */
async function exchange(page: Page, assertion: string, clientId?: string) {
  const response = await page.request.post("/mcp/oauth/token", {
    form: {
      grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer",
      assertion,
      ...(clientId ? { client_id: clientId } : {}),
    },
  });
  return { status: response.status(), body: await response.json() };
}

for (const js of [true, false]) {
  test.describe(`federation ${js ? "with" : "without"} JavaScript`, () => {
    test.use({ javaScriptEnabled: js });

    test("an administrator trusts an issuer; a person's secretless credential takes its pods' tokens", async ({
      page,
      browser,
    }) => {
      test.setTimeout(120_000);
      const issuer = await startIssuer();
      try {
        const name = `k8s-${unique()}`;
        const admin = await (await browser.newContext({ javaScriptEnabled: js })).newPage();
        await signIn(admin, ADMIN_EMAIL, ADMIN_PASSWORD, js);
        await expect(admin).toHaveURL(/\/credentials$/);
        await addIssuer(admin, name, issuer.url, js);
        // Refused input is said and nothing is added.
        await admin.getByLabel("Name").fill(`${name}-bad`);
        await admin.getByLabel("Issuer URL").fill("http://example.com");
        await admin.getByRole("button", { name: "Add issuer" }).click();
        await expect(admin.getByRole("alert")).toBeVisible();
        await admin.goto("/issuers");
        await expect(admin.getByTestId("issuer-row").filter({ hasText: `${name}-bad` })).toHaveCount(0);
        const row = admin.getByTestId("issuer-row").filter({ hasText: name });
        await expect(row.getByTestId("issuer-fetched")).toHaveText("Not yet");

        await signUp(page, uniqueEmail(), undefined, js);
        await expect(page).toHaveURL(/\/credentials$/);
        // People see the issuers but cannot change them.
        await page.goto("/issuers");
        await expect(page.getByTestId("issuer-row").filter({ hasText: name })).toBeVisible();
        await expect(page.getByRole("button", { name: "Add issuer" })).toHaveCount(0);
        await expect(page.getByRole("button", { name: "Remove" })).toHaveCount(0);

        await page.goto("/credentials/new");
        if (js) await hydrated(page);
        await page.getByLabel("Name").fill("pods");
        const federation = page.getByRole("group", { name: "Federation" });
        await federation.getByLabel("Trusted issuer").selectOption(name);
        if (js) {
          // The preset fills Kubernetes' claim and leaves Single use off.
          await federation.getByLabel("Single use").check();
          await federation.getByRole("button", { name: "Kubernetes" }).click();
          await expect(federation.getByLabel("Claims")).toHaveValue("sub=system:serviceaccount:NAMESPACE:SERVICE_ACCOUNT");
          await expect(federation.getByLabel("Single use")).not.toBeChecked();
        } else {
          await expect(federation.getByRole("button", { name: "Kubernetes" })).toHaveCount(0);
        }
        // A mistake is said, and the form keeps what was typed.
        await federation.getByLabel("Claims").fill("sub=*");
        await federation.getByLabel("No secret").check();
        await page.getByRole("button", { name: "Create credential" }).click();
        await expect(page.getByRole("alert")).toContainText("only *");
        await expect(federation.getByLabel("Trusted issuer")).toHaveValue(name);
        await expect(federation.getByLabel("No secret")).toBeChecked();
        await federation.getByLabel("Claims").fill("sub=system:serviceaccount:ci:*");
        await page.getByRole("button", { name: "Create credential" }).click();

        await expect(page.getByRole("heading", { name: "Credential “pods” created" })).toBeVisible();
        await expect(page.getByTestId("client-secret")).toHaveCount(0);
        await expect(page.getByText("grant-type:jwt-bearer")).toBeVisible();
        const clientId = (await page.getByTestId("client-id").textContent()) ?? "";
        expect(clientId).toMatch(/^clv_/);

        const origin = new URL(page.url()).origin;
        const pod = (sub: string) => issuer.mint({ sub, aud: origin });
        const token = pod("system:serviceaccount:ci:runner");
        // A pod presents its token again and again (the rule is not single use).
        for (let i = 0; i < 2; i += 1) {
          const { status, body } = await exchange(page, token, clientId);
          expect(status, JSON.stringify(body)).toBe(200);
        }
        const other = await exchange(page, pod("system:serviceaccount:prod:runner"), clientId);
        expect(other.status).toBe(400);
        expect(other.body.error).toBe("invalid_grant");

        // Usage is written every 5 s.
        await expect(async () => {
          await page.goto(`/credentials/${clientId}`);
          await expect(page.getByTestId("last-workload-subject")).toHaveText("system:serviceaccount:ci:runner", {
            timeout: 1_000,
          });
        }).toPass({ timeout: 20_000 });
        await expect(page.getByTestId("federation-rule")).toContainText(name);
        await expect(page.getByTestId("federation-rule")).toContainText("sub=system:serviceaccount:ci:*");
        // Nothing to rotate.
        await page.goto("/credentials");
        const listed = page.getByTestId("credential-row").filter({ hasText: clientId });
        await expect(listed).toContainText("Workload tokens only");
        await expect(listed.getByRole("link", { name: "Rotate secret" })).toHaveCount(0);

        // Editing the rule takes effect at once.
        await listed.getByRole("link", { name: "Edit" }).click();
        await expect(page).toHaveURL(/\/credentials\/edit\?client_id=/);
        if (js) await hydrated(page);
        const edited = page.getByRole("group", { name: "Federation" });
        await expect(edited.getByLabel("Claims")).toHaveValue("sub=system:serviceaccount:ci:*");
        await edited.getByLabel("Claims").fill("sub=system:serviceaccount:prod:*");
        await page.getByRole("button", { name: "Save" }).click();
        await expect(page).toHaveURL(/\/credentials$/);
        expect((await exchange(page, pod("system:serviceaccount:prod:runner"), clientId)).status).toBe(200);
        expect((await exchange(page, pod("system:serviceaccount:ci:runner"), clientId)).status).toBe(400);

        // The issuer's page shows the key fetched for those tokens.
        await admin.goto("/issuers");
        await expect(row.getByTestId("issuer-keys")).toHaveText("e2e-1");
        await expect(row.getByTestId("issuer-fetched")).not.toHaveText("Not yet");

        // Removing the issuer ends its rules.
        if (js) await hydrated(admin);
        await row.getByRole("button", { name: "Remove" }).click();
        if (!js) await expect(admin).toHaveURL(/\/issuers\/remove\?name=/);
        await admin.getByRole("button", { name: "Remove issuer" }).click();
        await expect(admin).toHaveURL(/\/issuers$/);
        await expect(admin.getByTestId("issuer-row").filter({ hasText: name })).toHaveCount(0);
        const after = await exchange(page, pod("system:serviceaccount:prod:runner"), clientId);
        expect(after.status).toBe(400);
        await admin.context().close();
      } finally {
        await issuer.close();
      }
    });
  });
}
