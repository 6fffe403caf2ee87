// Per-tool call limits (SPEC §20) in the dashboard: set on the credential form, refused
// there when they name a server the credential is not granted, shown with this minute's
// use on the credential's page, kept and changed by the edit form. (The gateway's
// enforcement is tested in server/tests/api/gateway.rs.)
import { addServer, expect, hydrated, signInAsAdmin, test, unique } from "./helpers";

test.describe("calls per minute", () => {
  test("limits set on the form are checked, shown with their use, and edited", async ({ page }) => {
    const id = unique();
    const server = { name: `Limited ${id}`, slug: `lim-${id}`.slice(0, 40) };
    await signInAsAdmin(page);
    await addServer(page, { name: server.name, slug: server.slug, mode: "Gateway", upstream: "http://127.0.0.1:9/mcp" });
    await page.getByRole("link", { name: "Credentials" }).click();
    await page.getByRole("link", { name: "New credential" }).click();
    await hydrated(page);
    await page.getByLabel("Name").fill(`limits ${id}`);
    await page.getByRole("group", { name: "Servers" }).getByLabel(server.name, { exact: true }).check();
    // A server it is not granted: refused, and what was typed stays.
    await page.getByLabel("Calls per minute").fill("elsewhere:deploy=5");
    await page.getByRole("button", { name: "Create credential" }).click();
    await expect(page.getByRole("alert")).toContainText("Calls per minute");
    await expect(page.getByLabel("Calls per minute")).toHaveValue("elsewhere:deploy=5");
    await page.getByLabel("Calls per minute").fill(`${server.slug}:deploy=5\n${server.slug}=600`);
    await page.getByRole("button", { name: "Create credential" }).click();
    const clientId = (await page.getByTestId("client-id").textContent()) ?? "";
    expect(clientId).toMatch(/^clv_/);

    await page.goto(`/credentials/${clientId}`);
    const limits = page.getByTestId("call-limit");
    await expect(limits).toHaveCount(2);
    await expect(limits.nth(0)).toHaveText(`${server.slug}deploy50`);
    await expect(limits.nth(1)).toHaveText(`${server.slug}all tools6000`);

    await page.goto(`/credentials/edit?client_id=${clientId}`);
    await hydrated(page);
    await expect(page.getByLabel("Calls per minute")).toHaveValue(`${server.slug}:deploy=5\n${server.slug}=600`);
    await page.getByLabel("Calls per minute").fill(`${server.slug}:deploy=2`);
    await page.getByRole("button", { name: "Save" }).click();
    await expect(page).toHaveURL(/\/credentials$/);
    await page.goto(`/credentials/${clientId}`);
    await expect(page.getByTestId("call-limit")).toHaveCount(1);
    await expect(page.getByTestId("call-limit")).toHaveText(`${server.slug}deploy20`);
  });
});
