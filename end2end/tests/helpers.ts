import { test as base, expect, type Browser, type BrowserContext, type Page } from "@playwright/test";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import { ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD } from "./constants";

export { ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD } from "./constants";

/** How long a page may take to load its wasm bundle and hydrate. Generous: CI runs
 * the suite on 2 cores right after the release build, two browsers at once, and a
 * slow hydration is not what these tests check. Every test waiting for it has a
 * timeout of at least twice this. */
export const HYDRATION_TIMEOUT = 20_000;

let counter = 0;
/** An email no other test uses. */
export function uniqueEmail(): string {
  counter += 1;
  return `e2e-${process.pid}-${Date.now()}-${counter}@example.com`;
}

/** A suffix no other test uses, for names and slugs (servers, teams are shared by every test). */
export function unique(): string {
  counter += 1;
  return `${process.pid}-${Date.now().toString(36)}-${counter}`;
}

// What each page did: navigations, uncaught errors (a hydration panic is one, with
// console_error_panic_hook's message also on the console), console errors and
// warnings, failed requests and error statuses. Printed when a page does not hydrate
// and after any failed test, so a failure says why.
const events = new WeakMap<Page, string[]>();
const pageErrors = new WeakMap<Page, Error[]>();
/** Where the current document's errors start in `pageErrors`. */
const documentStart = new WeakMap<Page, number>();
const started = Date.now();

/** Records `page`'s events from now on (idempotent). */
export function watch(page: Page): void {
  if (events.has(page)) return;
  const log: string[] = [];
  events.set(page, log);
  pageErrors.set(page, []);
  const note = (line: string) => log.push(`+${((Date.now() - started) / 1000).toFixed(2)}s ${line}`);
  page.on("framenavigated", (frame) => {
    if (frame !== page.mainFrame()) return;
    documentStart.set(page, pageErrors.get(page)?.length ?? 0);
    note(`navigated to ${frame.url()}`);
  });
  page.on("pageerror", (error) => {
    pageErrors.get(page)?.push(error);
    note(`page error: ${error.stack ?? error.message}`);
  });
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning") note(`console.${message.type()}: ${message.text()}`);
  });
  page.on("requestfailed", (request) =>
    note(`request failed: ${request.method()} ${request.url()} (${request.failure()?.errorText ?? "?"})`),
  );
  page.on("response", (response) => {
    if (response.status() >= 400) note(`HTTP ${response.status()}: ${response.request().method()} ${response.url()}`);
  });
  page.on("crash", () => note("the page crashed"));
  page.on("close", () => note("closed"));
}

function watchContext(context: BrowserContext): void {
  for (const page of context.pages()) watch(page);
  context.on("page", watch);
}

/** Everything recorded for `page`, one event a line. */
export function pageEvents(page: Page): string {
  const log = events.get(page) ?? [];
  return log.length ? log.map((line) => `  ${line}`).join("\n") : "  (nothing recorded)";
}

/**
 * `test` with every page watched (see `watch`): the `page` fixture's context and any
 * context or page a test opens with `browser.newContext()` / `browser.newPage()`. A
 * failed test prints what each of its pages did.
 */
export const test = base.extend<{ pageDiagnostics: void }>({
  pageDiagnostics: [
    async ({ context, browser }, use, testInfo) => {
      watchContext(context);
      const contexts: BrowserContext[] = [context];
      const original = browser.newContext;
      // `newPage` opens its context through `newContext`.
      (browser as Browser).newContext = async (...args: Parameters<Browser["newContext"]>) => {
        const opened = await original.apply(browser, args);
        contexts.push(opened);
        watchContext(opened);
        return opened;
      };
      try {
        await use();
      } finally {
        browser.newContext = original;
      }
      const failed = testInfo.status !== testInfo.expectedStatus;
      // CLAVIS_E2E_PAGE_EVENTS=<file>: every test's page events, passed or not.
      const everyTest = process.env.CLAVIS_E2E_PAGE_EVENTS;
      if (failed || everyTest) {
        const pages = contexts.flatMap((c) => c.pages());
        const report = pages.map((p, i) => `page ${i + 1} (${p.url()}):\n${pageEvents(p)}`).join("\n");
        if (everyTest) fs.appendFileSync(everyTest, `[${testInfo.title}] ${testInfo.status}\n${report}\n`);
        if (failed) {
          await testInfo.attach("page events", { body: report, contentType: "text/plain" });
          console.log(`\n[${testInfo.title}] page events:\n${report}`);
        }
      }
    },
    { auto: true },
  ],
});
export { expect };

/**
 * Waits until the wasm bundle has hydrated the page (only with JavaScript on). Fails
 * at once on an uncaught error (a panic while hydrating), and on failure reports what
 * the page did and how far its bundle got.
 */
export async function hydrated(page: Page, timeout = HYDRATION_TIMEOUT): Promise<void> {
  watch(page);
  const errors = pageErrors.get(page) ?? [];
  // Errors of this document count, also those from before this call.
  const seen = documentStart.get(page) ?? 0;
  const marker = page.locator("body[data-hydrated]");
  const deadline = Date.now() + timeout;
  let done = false;
  while (!done) {
    // Short slices, so an uncaught error ends the wait early.
    const slice = Math.max(0, Math.min(500, deadline - Date.now()));
    done = await marker
      .waitFor({ state: "attached", timeout: slice })
      .then(() => true)
      .catch(() => false);
    if (done) break;
    if (errors.length > seen || Date.now() >= deadline) {
      const state = await page
        .evaluate(() => ({
          url: location.href,
          readyState: document.readyState,
          bundle: performance
            .getEntriesByType("resource")
            .filter((e) => e.name.includes("/pkg/"))
            .map((e) => `${new URL(e.name).pathname} ${Math.round(e.startTime)}–${Math.round(e.responseEnd)} ms`),
          sinceNavigation: Math.round(performance.now()),
        }))
        .catch((error: Error) => ({ unreadable: error.message }));
      const why = errors.length > seen ? "an uncaught error while hydrating" : `no hydration within ${timeout} ms`;
      throw new Error(
        `${page.url()}: ${why} (body[data-hydrated] never appeared).\n` +
          `Page state: ${JSON.stringify(state)}\nPage events:\n${pageEvents(page)}`,
      );
    }
  }
  // CLAVIS_E2E_HYDRATION_LOG=<file>: one line per wait, "<ms since navigation> <url>"
  // (for tuning HYDRATION_TIMEOUT on a given machine).
  const logFile = process.env.CLAVIS_E2E_HYDRATION_LOG;
  if (logFile) {
    const since = await page.evaluate(() => Math.round(performance.now())).catch(() => -1);
    fs.appendFileSync(logFile, `${since} ${page.url()}\n`);
  }
}

/** Signs in as the administrator the server was started with. */
export async function signInAsAdmin(page: Page): Promise<void> {
  await page.goto("/login");
  await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await expect(page).toHaveURL(/\/credentials$/);
}

/** Posts a dashboard form's server function as the page's signed-in person (the
 * same request the form sends without JavaScript); follows its redirect. */
export async function postForm(page: Page, endpoint: string, form: Record<string, string>): Promise<void> {
  const origin = new URL(page.url()).origin;
  const response = await page.request.post(`/api/${endpoint}`, { headers: { Origin: origin }, form });
  expect(response.ok(), `POST /api/${endpoint}: ${response.status()} ${await response.text()}`).toBe(true);
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

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

/** Starts a server process and waits until its port accepts connections. */
export async function start(command: string, args: string[], port: number): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk) => (stderr += chunk));
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${args[0]} exited: ${stderr}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => {
        socket.end();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
    if (open) return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error(`${args[0]} did not listen on ${port}: ${stderr}`);
}

/** Registers a server in the dashboard as the administrator; returns its row. */
export async function addServer(
  page: Page,
  fields: { name: string; slug: string; mode: "Gateway" | "External"; upstream?: string; resource?: string },
) {
  await page.getByRole("link", { name: "MCP servers" }).click();
  await expect(page).toHaveURL(/\/servers$/);
  await page.getByRole("link", { name: "Add server" }).click();
  await hydrated(page);
  await page.getByLabel("Name", { exact: true }).fill(fields.name);
  await page.getByLabel("Slug").fill(fields.slug);
  await page.getByLabel("Mode").selectOption({ label: fields.mode });
  if (fields.upstream) {
    await page.getByLabel("Upstream URL").fill(fields.upstream);
    await page.getByLabel("Upstream header name").fill("X-Api-Key");
    await page.getByLabel("Upstream header value").fill("upstream-key-e2e");
  }
  if (fields.resource) await page.getByLabel("Resource URL").fill(fields.resource);
  // The people these tests sign up grant it in their own workspaces (the default access
  // is administrators and chosen teams).
  await page.getByLabel("Access").selectOption({ label: "Everyone signed in" });
  await page.getByRole("button", { name: "Save server" }).click();
  await expect(page).toHaveURL(/\/servers$/);
  const row = page.getByTestId("server-row").filter({ hasText: fields.name });
  await expect(row).toBeVisible();
  return row;
}
