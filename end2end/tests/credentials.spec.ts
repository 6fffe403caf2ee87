import type { Page } from "@playwright/test";
import { expect, hydrated, signUp, test, uniqueEmail } from "./helpers";

async function newCredentialForm(page: Page, js = true) {
  await signUp(page, uniqueEmail(), undefined, js);
  await expect(page).toHaveURL(/\/credentials$/);
  await page.getByRole("link", { name: "New credential" }).click();
  await expect(page).toHaveURL(/\/credentials\/new$/);
  if (js) await hydrated(page);
}

async function create(page: Page, name: string, description = "") {
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("Description").fill(description);
  await page.getByRole("button", { name: "Create credential" }).click();
}

/** The token endpoint's status for a client id and secret (Basic authentication). */
async function tokenStatus(page: Page, clientId: string, secret: string): Promise<number> {
  const response = await page.request.post("/mcp/oauth/token", {
    headers: { Authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString("base64")}` },
    form: { grant_type: "client_credentials" },
  });
  return response.status();
}

/** Rotates the credential in `clientId`'s row, keeping the old secret for `keep`; returns the new secret. */
async function rotate(page: Page, clientId: string, keep: string, js = true): Promise<string> {
  await page.goto("/credentials");
  if (js) await hydrated(page);
  await page.getByTestId("credential-row").filter({ hasText: clientId }).getByRole("link", { name: "Rotate secret" }).click();
  await expect(page).toHaveURL(/\/credentials\/rotate\?client_id=/);
  if (js) await hydrated(page);
  await page.getByLabel("Old secret valid for").selectOption({ label: keep });
  await page.getByRole("button", { name: "Rotate" }).click();
  await expect(page.getByRole("heading", { name: /New secret for/ })).toBeVisible();
  await expect(page.getByTestId("client-id")).toHaveText(clientId);
  const secret = (await page.getByTestId("client-secret").textContent()) ?? "";
  expect(secret).toMatch(/^clvs_[A-Za-z0-9]{49}$/);
  return secret;
}

test.describe("credentials with JavaScript", () => {
  test("rotate: the new secret shown once, both work, the old stops at Revoke now", async ({ page }) => {
    await newCredentialForm(page);
    await create(page, "rotating bot");
    const clientId = (await page.getByTestId("client-id").textContent()) ?? "";
    const old = (await page.getByTestId("client-secret").textContent()) ?? "";

    const fresh = await rotate(page, clientId, "24 hours");
    expect(fresh).not.toBe(old);
    expect(await tokenStatus(page, clientId, old)).toBe(200);
    expect(await tokenStatus(page, clientId, fresh)).toBe(200);

    await page.getByRole("link", { name: "Done" }).click();
    await expect(page).toHaveURL(/\/credentials$/);
    await hydrated(page);
    expect(await page.content()).not.toContain(fresh);
    const row = page.getByTestId("credential-row").filter({ hasText: clientId });
    await expect(row.getByTestId("old-secret")).toContainText("The old secret works until");
    await row.getByRole("button", { name: "Revoke now" }).click();
    await expect(row.getByTestId("old-secret")).toHaveCount(0);
    expect(await tokenStatus(page, clientId, old)).toBe(401);
    expect(await tokenStatus(page, clientId, fresh)).toBe(200);
  });

  test("create, see the secret once, copy it, and never see it again", async ({ page, context }) => {
    await context.grantPermissions(["clipboard-read", "clipboard-write"]);
    await newCredentialForm(page);
    await expect(page.getByLabel("mcp")).toBeChecked();
    await expect(page.getByLabel("introspect")).not.toBeChecked();
    // Only administrators grant introspect: a person is told so, and nothing is created.
    await page.getByLabel("introspect").check();
    await page.getByLabel("Expires").selectOption("90");
    await create(page, "CI deploy bot", "Deploys from CI");
    await expect(page.getByRole("alert")).toContainText("Only administrators may grant the introspect scope.");
    await page.getByLabel("introspect").uncheck();
    await create(page, "CI deploy bot", "Deploys from CI");

    const secretEl = page.getByTestId("client-secret");
    await expect(secretEl).toHaveText(/^clvs_[A-Za-z0-9]{49}$/);
    const secret = (await secretEl.textContent()) ?? "";
    const clientId = (await page.getByTestId("client-id").textContent()) ?? "";
    expect(clientId).toMatch(/^clv_[A-Za-z0-9]{24}$/);
    await expect(page.getByText("You will not see this secret again", { exact: false })).toBeVisible();

    await page.getByTestId("client-secret").locator("..").getByRole("button", { name: "Copy" }).click();
    await expect(page.getByTestId("client-secret").locator("..").getByRole("button", { name: "Copy" })).toHaveText("Copied");
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);

    await page.reload();
    await expect(page.getByRole("heading", { name: "New credential" })).toBeVisible();
    expect(await page.content()).not.toContain(secret);

    await page.goto("/credentials");
    const row = page.getByTestId("credential-row").filter({ hasText: clientId });
    await expect(row).toContainText("CI deploy bot");
    await expect(row).toContainText("Deploys from CI");
    await expect(row.getByText("Scopes").locator("..")).toContainText(/^Scopes\s*mcp$/);
    await expect(page.getByTestId("credential-row")).toHaveCount(1);
    await expect(row).toContainText("Active");
    expect(await page.content()).not.toContain(secret);
  });

  test("revoke asks for confirmation and the row shows Revoked", async ({ page }) => {
    await newCredentialForm(page);
    await create(page, "short-lived");
    const clientId = (await page.getByTestId("client-id").textContent()) ?? "";
    await page.getByRole("link", { name: "Done" }).click();
    await expect(page).toHaveURL(/\/credentials$/);
    await hydrated(page);

    const row = page.getByTestId("credential-row").filter({ hasText: clientId });
    await row.getByRole("button", { name: "Revoke", exact: true }).click();
    await row.getByRole("button", { name: "Revoke credential" }).click();
    await expect(row).toContainText("Revoked");
    await expect(row.getByRole("button", { name: "Revoke", exact: true })).toHaveCount(0);
    await page.reload();
    await expect(page.getByTestId("credential-row").filter({ hasText: clientId })).toContainText("Revoked");
  });

  test("names with markup render literally and run nothing", async ({ page }) => {
    const script = "<script>window.__xss = 1</script>";
    const img = '"><img src=x onerror="window.__xss = 2">';
    await newCredentialForm(page);
    await create(page, script, img);
    await expect(page.getByTestId("client-secret")).toBeVisible();
    await page.getByRole("link", { name: "Done" }).click();
    const row = page.getByTestId("credential-row").first();
    await expect(row).toContainText(script);
    await expect(row).toContainText(img);
    await expect(row.locator("img, script")).toHaveCount(0);
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
  });

  test("an empty or 101-character name is refused and nothing is created; 100 emoji are fine", async ({ page }) => {
    await newCredentialForm(page);
    await create(page, "");
    await expect(page.getByRole("alert")).toHaveText("Enter a name.");
    await create(page, "x".repeat(101));
    await expect(page.getByRole("alert")).toContainText("at most 100 characters");
    await page.goto("/credentials");
    await expect(page.getByTestId("credential-row")).toHaveCount(0);

    await page.goto("/credentials/new");
    await hydrated(page);
    const emoji = "🔑".repeat(100);
    await create(page, emoji);
    await expect(page.getByTestId("client-secret")).toBeVisible();
    await page.goto("/credentials");
    await expect(page.getByTestId("credential-row")).toContainText(emoji);
  });
});

test.describe("credentials without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("create shows the secret once; revoke through the confirmation page", async ({ page }) => {
    await newCredentialForm(page, false);
    await create(page, "");
    await expect(page.getByRole("alert")).toHaveText("Enter a name.");

    await create(page, "no-js bot");
    await expect(page.getByTestId("client-secret")).toHaveText(/^clvs_/);
    const clientId = (await page.getByTestId("client-id").textContent()) ?? "";

    await page.goto("/credentials");
    const row = page.getByTestId("credential-row").filter({ hasText: clientId });
    await row.getByRole("button", { name: "Revoke", exact: true }).click();
    await expect(page).toHaveURL(/\/credentials\/revoke\?client_id=/);
    await page.getByRole("button", { name: "Revoke credential" }).click();
    await expect(page).toHaveURL(/\/credentials$/);
    await expect(page.getByTestId("credential-row").filter({ hasText: clientId })).toContainText("Revoked");
  });

  test("rotate through the page, then Revoke now", async ({ page }) => {
    await newCredentialForm(page, false);
    await create(page, "no-js rotating");
    const clientId = (await page.getByTestId("client-id").textContent()) ?? "";
    const old = (await page.getByTestId("client-secret").textContent()) ?? "";

    const fresh = await rotate(page, clientId, "1 hour", false);
    expect(await tokenStatus(page, clientId, old)).toBe(200);
    await page.goto("/credentials");
    const row = page.getByTestId("credential-row").filter({ hasText: clientId });
    await row.getByRole("button", { name: "Revoke now" }).click();
    await expect(page).toHaveURL(/\/credentials$/);
    await expect(page.getByTestId("credential-row").filter({ hasText: clientId }).getByTestId("old-secret")).toHaveCount(0);
    expect(await tokenStatus(page, clientId, old)).toBe(401);
    expect(await tokenStatus(page, clientId, fresh)).toBe(200);

    await page.getByTestId("credential-row").filter({ hasText: clientId }).getByRole("link", { name: "Edit" }).click();
    await expect(page).toHaveURL(/\/credentials\/edit\?client_id=/);
    await page.getByLabel("Name").fill("");
    await page.getByRole("button", { name: "Save" }).click();
    await expect(page.getByRole("alert")).toContainText("Enter a name.");
    await page.goto(`/credentials/edit?client_id=${clientId}`);
    await page.getByLabel("Name").fill("renamed without js");
    await page.getByLabel("Tokens per hour").fill("2");
    await page.getByRole("button", { name: "Save" }).click();
    await expect(page).toHaveURL(/\/credentials$/);
    const renamed = page.getByTestId("credential-row").filter({ hasText: clientId });
    await expect(renamed).toContainText("renamed without js");
    await expect(renamed).toContainText("Tokens per hour2");
  });
});
