// Accessibility and looks (issue 18): axe-core over every page, signed out and signed
// in, in both colour schemes; a keyboard-only journey with visible focus; the
// one-time view announced; no horizontal overflow at phone width; screenshots of the
// credentials list and the one-time view at 390 and 1280 px.
import AxeBuilder from "@axe-core/playwright";
import type { Page } from "@playwright/test";
import {
  expect,
  hydrated,
  postForm,
  signInAsAdmin,
  signUp,
  test,
  unique,
  uniqueEmail,
} from "./helpers";

/** axe-core's WCAG 2.x A/AA rules and best practices; every violation is listed on failure. */
async function expectNoViolations(page: Page, what: string): Promise<void> {
  const results = await new AxeBuilder({ page })
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"])
    .analyze();
  const found = results.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.map((n) => n.target.join(" ")).join("\n    ")}`,
  );
  expect(found, `axe on ${what}`).toEqual([]);
  // The rules really ran (a page axe could not read would pass with nothing checked).
  expect(results.passes.length, `axe checks passed on ${what}`).toBeGreaterThan(10);
}

/** Visits `path` (hydrated) and checks it in light and dark. */
async function checkPage(page: Page, path: string): Promise<void> {
  await page.goto(path);
  await hydrated(page);
  for (const colorScheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme });
    await expectNoViolations(page, `${path} (${colorScheme})`);
  }
  await page.emulateMedia({ colorScheme: "light" });
}

async function createCredential(page: Page, name: string): Promise<string> {
  await page.goto("/credentials/new");
  await hydrated(page);
  await page.getByLabel("Name").fill(name);
  await page.getByRole("button", { name: "Create credential" }).click();
  await expect(page.getByTestId("client-secret")).toBeVisible();
  return (await page.getByTestId("client-id").textContent()) ?? "";
}

test.describe("accessibility", () => {
  test("signed-out pages have no axe violations, light and dark", async ({ page }) => {
    for (const path of ["/login", "/signup", "/no-such-page"]) await checkPage(page, path);
  });

  test("signed-in pages, the one-time view and the admin's pages have no axe violations", async ({ page }) => {
    test.setTimeout(120_000);
    await signInAsAdmin(page);

    // The one-time view, as it appears after Create (checked before it is left).
    await page.goto("/credentials/new");
    await hydrated(page);
    await expectNoViolations(page, "/credentials/new");
    await page.getByLabel("Name").fill("axe bot");
    await page.getByRole("button", { name: "Create credential" }).click();
    await expect(page.getByTestId("client-secret")).toBeVisible();
    for (const colorScheme of ["light", "dark"] as const) {
      await page.emulateMedia({ colorScheme });
      await expectNoViolations(page, `one-time view (${colorScheme})`);
    }
    await page.emulateMedia({ colorScheme: "light" });
    const clientId = (await page.getByTestId("client-id").textContent()) ?? "";

    await page.goto("/teams");
    await hydrated(page);
    await page.getByLabel("Team name").fill(`axe team ${Date.now()}`);
    await page.getByRole("button", { name: "Create team" }).click();
    await expect(page).toHaveURL(/\/teams\/\d+$/);
    const team = new URL(page.url()).pathname;

    for (const path of [
      "/credentials",
      `/credentials/${clientId}`,
      `/credentials/edit?client_id=${clientId}`,
      `/credentials/rotate?client_id=${clientId}`,
      `/credentials/revoke?client_id=${clientId}`,
      "/teams",
      team,
      "/audit",
      "/servers",
      "/servers/new",
      "/issuers",
      "/identity-providers",
      "/admin/users",
    ]) {
      await checkPage(page, path);
    }
  });

  test("checkbox groups with many entries keep 24 px targets (WCAG 2.2 target size)", async ({ page }) => {
    test.setTimeout(90_000);
    // Several servers of both modes and several teams, whatever other tests have
    // registered: each server is a checkbox in the credential form's Servers group.
    await signInAsAdmin(page);
    const id = unique();
    const names: string[] = [];
    for (let i = 0; i < 4; i++) {
      const name = `Target ${i} ${id}`;
      names.push(name);
      await postForm(page, "servers/add", {
        name,
        slug: `target-${i}-${id}`.toLowerCase().slice(0, 40),
        ...(i % 2 === 0
          ? { mode: "gateway", upstream_url: "http://127.0.0.1:9/mcp" }
          : { mode: "external", resource_url: `https://target-${i}-${id}.example.com/mcp` }),
      });
    }
    for (let i = 0; i < 3; i++) await postForm(page, "teams/create", { name: `Target team ${i} ${id}` });

    await checkPage(page, "/credentials/new");
    const servers = page.getByRole("group", { name: "Servers" });
    for (const name of names) await expect(servers.getByLabel(name, { exact: true })).toBeVisible();
    // Every checkbox is a 24 × 24 px target by itself (axe also accepts smaller ones
    // spaced apart; these are not, in a long list).
    for (const box of await page.getByRole("checkbox").all()) {
      const size = await box.boundingBox();
      expect(size?.width, "checkbox width").toBeGreaterThanOrEqual(24);
      expect(size?.height, "checkbox height").toBeGreaterThanOrEqual(24);
    }
    for (const path of ["/servers/new", "/servers", "/teams"]) await checkPage(page, path);
  });
});

test.describe("keyboard only", () => {
  /** The focused element's outline: what a sighted keyboard user sees. */
  async function focusRing(page: Page): Promise<string> {
    return page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      if (!el || el === document.body) return "nothing focused";
      // The focus is inside a native control's own parts (a date field's calendar
      // button), which draw their own ring and are not reachable from the page.
      if (!el.matches(":focus")) return "visible";
      const style = getComputedStyle(el);
      const visible = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2;
      return visible ? "visible" : `${el.tagName} "${el.textContent?.trim()}" has no focus ring`;
    });
  }

  /** Presses Tab until the focused element has `name` (its accessible text), at most 40 times. */
  async function tabTo(page: Page, name: RegExp): Promise<void> {
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press("Tab");
      const label = await page.evaluate(() => {
        const el = document.activeElement as HTMLElement | null;
        if (!el) return "";
        const labelled = (el as HTMLInputElement).labels?.[0]?.textContent ?? "";
        return `${el.getAttribute("aria-label") ?? ""} ${labelled} ${el.textContent ?? ""}`.trim();
      });
      const ring = await focusRing(page);
      // The first Tab may land on the document itself; everything after must show.
      if (ring !== "nothing focused") expect(ring, `focus on ${label}`).toBe("visible");
      if (name.test(label)) {
        expect(ring, `focus on ${label}`).toBe("visible");
        return;
      }
    }
    throw new Error(`Tab never reached ${name}`);
  }

  test("create, copy and revoke a credential without a mouse; focus is always visible", async ({ page, context }) => {
    await context.grantPermissions(["clipboard-read", "clipboard-write"]);
    await signUp(page, uniqueEmail());
    await expect(page).toHaveURL(/\/credentials$/);
    await hydrated(page);

    await tabTo(page, /^New credential$/);
    await page.keyboard.press("Enter");
    await expect(page).toHaveURL(/\/credentials\/new$/);
    await hydrated(page);
    await tabTo(page, /^Name/);
    await page.keyboard.type("keyboard bot");
    await tabTo(page, /^Create credential$/);
    await page.keyboard.press("Enter");

    // The one-time view takes the focus: its heading, described by the warning.
    const heading = page.getByRole("heading", { name: "Credential “keyboard bot” created" });
    await expect(heading).toBeFocused();
    const description = await heading.getAttribute("aria-describedby");
    await expect(page.locator(`#${description}`)).toContainText("Copy the client secret now");
    const secret = (await page.getByTestId("client-secret").textContent()) ?? "";

    // The first Copy after the heading is the client ID's, the second the secret's.
    await tabTo(page, /^Copy\s+Copy$/);
    await tabTo(page, /^Copy\s+Copy$/);
    await page.keyboard.press("Enter");
    await expect(page.getByRole("status").filter({ hasText: "Copied to the clipboard" })).toHaveCount(1);
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);

    await tabTo(page, /^Done$/);
    await page.keyboard.press("Enter");
    await expect(page).toHaveURL(/\/credentials$/);
    await hydrated(page);
    await tabTo(page, /^Revoke$/);
    await page.keyboard.press("Enter");
    // The question takes the focus on its harmless choice; Cancel gives it back.
    const row = page.getByTestId("credential-row");
    await expect(row.getByRole("button", { name: "Cancel" })).toBeFocused();
    await page.keyboard.press("Enter");
    await expect(row.getByRole("button", { name: "Revoke", exact: true })).toBeFocused();
    await page.keyboard.press("Enter");
    await expect(row.getByRole("button", { name: "Cancel" })).toBeFocused();
    await page.keyboard.press("Shift+Tab");
    await expect(row.getByRole("button", { name: "Revoke credential" })).toBeFocused();
    expect(await focusRing(page)).toBe("visible");
    await page.keyboard.press("Enter");
    await expect(row).toContainText("Revoked");
  });
});

test.describe("looks right at 390 and 1280 px", () => {
  for (const [width, colorScheme] of [
    [390, "light"],
    [1280, "light"],
    [390, "dark"],
    [1280, "dark"],
  ] as const) {
    test(`credentials list and one-time view at ${width} px, ${colorScheme}`, async ({ page }) => {
      await page.setViewportSize({ width, height: 900 });
      await page.emulateMedia({ colorScheme });
      const suffix = colorScheme === "light" ? `${width}` : `${width}-dark`;
      // A new person each time (the list must hold only this test's credential, also
      // with --repeat-each), whose address has the same width every time (digits), so
      // the header is laid out alike; the address itself is masked.
      const digits = `${String(Date.now() % 1e7).padStart(7, "0")}${test.info().parallelIndex % 10}`;
      await signUp(page, `screens-${suffix}-${digits}@example.com`);
      await expect(page).toHaveURL(/\/credentials$/);
      await createCredential(page, "screenshot bot");
      // What differs between runs: the address, the ids and the secret (monospace:
      // fixed widths), dates.
      const mask = [
        page.locator(".account .email"),
        page.locator("code"),
        page.locator("pre"),
        page.locator("dd").filter({ hasText: /\d{4}-\d\d-\d\d/ }),
      ];
      await expectNoOverflow(page, `one-time view at ${width}`);
      await expect(page).toHaveScreenshot(`one-time-${suffix}.png`, { mask, maxDiffPixelRatio: 0.01 });

      await page.goto("/credentials");
      await hydrated(page);
      await expect(page.getByTestId("credential-row")).toHaveCount(1);
      await expectNoOverflow(page, `credentials list at ${width}`);
      await expect(page).toHaveScreenshot(`credentials-${suffix}.png`, { mask, maxDiffPixelRatio: 0.01 });
    });
  }

  test("dark scheme follows the system", async ({ page }) => {
    await page.emulateMedia({ colorScheme: "dark" });
    await page.goto("/login");
    const background = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    expect(background).toBe("rgb(20, 22, 26)");
    await page.emulateMedia({ colorScheme: "light" });
    expect(await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor)).toBe(
      "rgb(247, 247, 248)",
    );
  });
});

/** Nothing may make the page wider than the viewport (no sideways scrolling on phones). */
async function expectNoOverflow(page: Page, what: string): Promise<void> {
  const { scroll, client } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  expect(scroll, `${what}: page width ${scroll} > viewport ${client}`).toBeLessThanOrEqual(client);
}
