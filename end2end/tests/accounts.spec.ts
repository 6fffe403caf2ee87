import type { Page } from "@playwright/test";
import { PASSWORD, expect, hydrated, signIn, signUp, test, uniqueEmail } from "./helpers";

test.describe("accounts with JavaScript", () => {
  test("sign up lands on credentials, sign out and sign in again", async ({ page }) => {
    const email = uniqueEmail();
    await signUp(page, email);
    await expect(page).toHaveURL(/\/credentials$/);
    await expect(page.getByRole("heading", { name: "Credentials" })).toBeVisible();
    await expect(page.getByText(email)).toBeVisible();

    await hydrated(page);
    await page.getByRole("button", { name: "Sign out" }).click();
    await expect(page).toHaveURL(/\/login$/);
    await page.goto("/credentials");
    await expect(page).toHaveURL(/\/login\?next=/);

    await signIn(page, email);
    await expect(page).toHaveURL(/\/credentials$/);
    await expect(page.getByText(email)).toBeVisible();
  });

  test("a wrong password and an unknown account get the same message", async ({ page }) => {
    const email = uniqueEmail();
    await signUp(page, email);
    await expect(page).toHaveURL(/\/credentials$/);
    await page.context().clearCookies();

    await page.goto("/login");
    await signIn(page, email, "not the right password");
    await expect(page.getByRole("alert")).toHaveText("Wrong email or password.");
    await expect(page).toHaveURL(/\/login/);

    await page.goto("/login");
    await signIn(page, uniqueEmail(), PASSWORD);
    await expect(page.getByRole("alert")).toHaveText("Wrong email or password.");
  });

  test("a short password is refused with a visible message", async ({ page }) => {
    await signUp(page, uniqueEmail(), "tooshort");
    await expect(page.getByRole("alert")).toContainText("at least 10 characters");
    await expect(page).toHaveURL(/\/signup$/);
  });

  test("a signed-out visit goes to sign-in and comes back after it", async ({ page }) => {
    const email = uniqueEmail();
    await signUp(page, email);
    await expect(page).toHaveURL(/\/credentials$/);
    await page.context().clearCookies();

    await page.goto("/credentials");
    await expect(page).toHaveURL(/\/login\?next=%2Fcredentials|\/login\?next=\/credentials/);
    await signIn(page, email);
    await expect(page).toHaveURL(/\/credentials$/);
  });

  test("session cookie is HttpOnly and SameSite=Lax", async ({ page }) => {
    await signUp(page, uniqueEmail());
    await expect(page).toHaveURL(/\/credentials$/);
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === "clavis_session");
    expect(session?.httpOnly).toBe(true);
    expect(session?.sameSite).toBe("Lax");
  });
});

test.describe("accounts without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("sign up, sign out, fail and succeed at signing in", async ({ page }) => {
    const email = uniqueEmail();
    await signUp(page, email, PASSWORD, false);
    await expect(page).toHaveURL(/\/credentials$/);
    await expect(page.getByText(email)).toBeVisible();

    await page.getByRole("button", { name: "Sign out" }).click();
    await expect(page).toHaveURL(/\/login$/);

    await signIn(page, email, "not the right password", false);
    await expect(page.getByRole("alert")).toHaveText("Wrong email or password.");

    await page.goto("/login");
    await signIn(page, email, PASSWORD, false);
    await expect(page).toHaveURL(/\/credentials$/);
  });

  test("a short password is refused with a visible message", async ({ page }) => {
    await signUp(page, uniqueEmail(), "tooshort", false);
    await expect(page.getByRole("alert")).toContainText("at least 10 characters");
  });
});

test.describe("narrow screens", () => {
  test.use({ viewport: { width: 390, height: 844 } });

  /** Nothing wider than the viewport, and the Sign out button wholly inside it. */
  async function fitsTheViewport(page: Page) {
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    const box = await page.getByRole("button", { name: "Sign out" }).boundingBox();
    expect(box).not.toBeNull();
    expect((box?.x ?? -1) >= 0 && (box?.x ?? 0) + (box?.width ?? 0) <= 390).toBe(true);
  }

  test("at 390 px the header, the list and the one-time view fit the width", async ({ page }) => {
    // A long address is the worst case for the header.
    await signUp(page, `a-rather-long-name-for-a-person-${uniqueEmail()}`);
    await expect(page).toHaveURL(/\/credentials$/);
    await hydrated(page);
    await fitsTheViewport(page);
    await page.getByRole("link", { name: "New credential" }).click();
    await hydrated(page);
    await page.getByLabel("Name").fill("phone-sized");
    await page.getByRole("button", { name: "Create credential" }).click();
    await expect(page.getByTestId("client-secret")).toBeVisible();
    await fitsTheViewport(page);
    await page.goto("/credentials");
    await expect(page.getByTestId("credential-row")).toHaveCount(1);
    await fitsTheViewport(page);
  });
});
