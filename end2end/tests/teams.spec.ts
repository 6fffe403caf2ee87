import type { Browser, Page } from "@playwright/test";
import { expect, hydrated, signUp, test, uniqueEmail } from "./helpers";

async function person(browser: Browser, js = true): Promise<{ page: Page; email: string }> {
  const context = await browser.newContext({ javaScriptEnabled: js });
  const page = await context.newPage();
  const email = uniqueEmail();
  await signUp(page, email, undefined, js);
  await expect(page).toHaveURL(/\/credentials$/);
  return { page, email };
}

async function switchWorkspace(page: Page, label: string, js = true) {
  if (js) await hydrated(page);
  await page.getByLabel("Workspace").selectOption({ label });
  await page.getByRole("button", { name: "Switch" }).click();
  await expect(page.getByTestId("workspace-name")).toHaveText(`Workspace: ${label}`);
}

test.describe("teams", () => {
  test("an owner invites, a member joins and creates a team credential; the owner sees who created it, revokes it, and the audit log and usage chart show it", async ({
    browser,
  }) => {
    const owner = await person(browser);
    const team = `Platform ${Date.now()}`;

    // The owner creates the team and invites by link.
    await hydrated(owner.page);
    await owner.page.getByRole("link", { name: "Teams" }).click();
    await expect(owner.page).toHaveURL(/\/teams$/);
    await hydrated(owner.page);
    await owner.page.getByLabel("Team name").fill(team);
    await owner.page.getByRole("button", { name: "Create team" }).click();
    await expect(owner.page.getByRole("heading", { name: team })).toBeVisible();
    await expect(owner.page.getByTestId("member-row")).toHaveCount(1);
    await expect(owner.page.getByTestId("member-row")).toContainText("Owner");
    await owner.page.getByRole("combobox", { name: "Role", exact: true }).selectOption({ label: "Member" });
    await owner.page.getByRole("button", { name: "Invite" }).click();
    const link = (await owner.page.getByTestId("invite-link").textContent()) ?? "";
    expect(link).toMatch(/\/invite\/[A-Za-z0-9]{43}$/);

    // Someone without an account opens it, is sent to sign in, creates an account
    // instead, comes back to the invitation and joins.
    const member = { page: await (await browser.newContext()).newPage(), email: uniqueEmail() };
    await member.page.goto(link);
    await expect(member.page).toHaveURL(/\/login\?next=/);
    await hydrated(member.page);
    await member.page.getByRole("link", { name: "Create one" }).click();
    await expect(member.page).toHaveURL(/\/signup\?next=/);
    await signUp(member.page, member.email, undefined, true, false);
    await expect(member.page).toHaveURL(/\/invite\//);
    await hydrated(member.page);
    await member.page.getByRole("button", { name: "Join team" }).click();
    await expect(member.page.getByRole("heading", { name: team })).toBeVisible();
    await expect(member.page.getByTestId("member-row")).toHaveCount(2);
    // The link worked once.
    await member.page.goto(link);
    await expect(member.page.getByRole("alert")).toContainText("unknown, used or expired");

    // …and creates a credential in the team's workspace.
    await member.page.goto("/credentials");
    await switchWorkspace(member.page, team);
    await member.page.getByRole("link", { name: "New credential" }).click();
    await hydrated(member.page);
    await member.page.getByLabel("Name").fill("team deploy bot");
    await member.page.getByRole("button", { name: "Create credential" }).click();
    const clientId = (await member.page.getByTestId("client-id").textContent()) ?? "";
    const secret = (await member.page.getByTestId("client-secret").textContent()) ?? "";
    expect(clientId).toMatch(/^clv_/);
    for (let i = 0; i < 3; i++) {
      const response = await member.page.request.post("/mcp/oauth/token", {
        headers: { Authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString("base64")}` },
        form: { grant_type: "client_credentials" },
      });
      expect(response.status()).toBe(200);
    }

    // The owner sees it in the team's workspace, created by the member, and revokes it.
    await owner.page.goto("/credentials");
    await switchWorkspace(owner.page, team);
    const row = owner.page.getByTestId("credential-row").filter({ hasText: clientId });
    await expect(row.getByTestId("created-by")).toHaveText(member.email);
    await row.getByRole("button", { name: "Revoke" }).click();
    await row.getByRole("button", { name: "Revoke credential" }).click();
    await expect(row).toContainText("Revoked");

    // The audit page shows both events.
    await owner.page.getByRole("link", { name: "Audit log" }).click();
    await expect(owner.page).toHaveURL(/\/audit$/);
    const events = owner.page.getByTestId("audit-row").filter({ hasText: clientId });
    await expect(events.filter({ hasText: "credential.revoked" })).toContainText(owner.email);
    await expect(events.filter({ hasText: "credential.created" })).toContainText(member.email);

    // The usage chart counts the three tokens once the counts are flushed (≤ 5 s).
    await expect
      .poll(
        async () => {
          await owner.page.goto(`/credentials/${clientId}`);
          return owner.page.locator('svg[role="img"]').getAttribute("aria-label");
        },
        { timeout: 15_000, intervals: [1_000] },
      )
      .toContain("3 in all");
  });

  test("without JavaScript: a team is created, chosen as the workspace, and the audit page lists it", async ({
    browser,
  }) => {
    const { page } = await person(browser, false);
    const team = `No-JS team ${Date.now()}`;
    await page.goto("/teams");
    await page.getByLabel("Team name").fill(team);
    await page.getByRole("button", { name: "Create team" }).click();
    await expect(page.getByRole("heading", { name: team })).toBeVisible();
    await page.goto("/credentials");
    await switchWorkspace(page, team, false);
    await page.goto("/audit");
    await expect(page.getByTestId("audit-row").filter({ hasText: "team.created" })).toContainText(team);
  });
});
