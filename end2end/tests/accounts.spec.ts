import { expect, test } from "@playwright/test";
import { PASSWORD, hydrated, signIn, signUp, uniqueEmail } from "./helpers";

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
