import { expect, type Page } from "@playwright/test";

export const PASSWORD = "correct horse battery staple";
/** The administrator the test server is started with (playwright.config.ts). */
export const ADMIN_EMAIL = "admin@clavis-e2e.test";
export const ADMIN_PASSWORD = PASSWORD;

let counter = 0;
/** An email no other test uses. */
export function uniqueEmail(): string {
  counter += 1;
  return `e2e-${process.pid}-${Date.now()}-${counter}@example.com`;
}

/** Waits until the wasm bundle has hydrated the page (only with JavaScript on). */
export async function hydrated(page: Page): Promise<void> {
  await expect(page.locator("body[data-hydrated]")).toBeAttached();
}

export async function signUp(page: Page, email: string, password = PASSWORD, js = true, visit = true): Promise<void> {
  if (visit) await page.goto("/signup");
  if (js) await hydrated(page);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
}

export async function signIn(page: Page, email: string, password = PASSWORD, js = true): Promise<void> {
  if (!page.url().includes("/login")) await page.goto("/login");
  if (js) await hydrated(page);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}
