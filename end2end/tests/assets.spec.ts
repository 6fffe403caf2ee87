// The release binary serves its own assets (playwright.config.ts starts a copy of it
// alone in an empty directory): versioned URLs cached for good, compressed on the wire,
// revalidated by ETag; pages compressed too.
import { expect, hydrated, test } from "./helpers";

test("the lone binary serves a hydrating dashboard with versioned, compressed, immutable assets", async ({
  page,
  request,
}) => {
  const wasmResponse = page.waitForResponse((r) => r.url().endsWith(".wasm"));
  await page.goto("/login");
  await hydrated(page);
  const wasmUrl = new URL((await wasmResponse).url());
  expect(wasmUrl.pathname).toMatch(/^\/pkg\/[0-9a-f]{16}\/clavis\.wasm$/);
  const version = wasmUrl.pathname.split("/")[2];
  const stylesheet = await page.locator("link#leptos").getAttribute("href");
  expect(stylesheet).toBe(`/pkg/${version}/clavis.css`);

  for (const [file, type] of [
    ["clavis.wasm", "application/wasm"],
    ["clavis.js", "text/javascript"],
    ["clavis.css", "text/css"],
  ]) {
    for (const [accept, encoding] of [
      ["br, gzip", "br"],
      ["gzip", "gzip"],
      ["identity", undefined],
    ]) {
      const response = await request.get(`/pkg/${version}/${file}`, { headers: { "Accept-Encoding": accept } });
      expect(response.status(), file).toBe(200);
      const headers = response.headers();
      expect(headers["content-type"]).toContain(type);
      expect(headers["content-encoding"], `${file} with ${accept}`).toBe(encoding);
      expect(headers["cache-control"]).toBe("public, max-age=31536000, immutable");
      expect(headers["vary"]).toContain("accept-encoding");
      const etag = headers["etag"];
      expect(etag).toMatch(/^"[0-9a-f]{32}(-br|-gzip)?"$/);
      const again = await request.get(`/pkg/${version}/${file}`, {
        headers: { "Accept-Encoding": accept, "If-None-Match": etag },
      });
      expect(again.status(), `${file} revalidated`).toBe(304);
    }
  }

  // Without the version: the same file, but revalidated on every use.
  const plain = await request.get("/pkg/clavis.wasm", { headers: { "Accept-Encoding": "br" } });
  expect(plain.status()).toBe(200);
  expect(plain.headers()["cache-control"]).toBe("no-cache");
  // Another version's URL is not this build's file.
  expect((await request.get("/pkg/0000000000000000/clavis.wasm")).status()).toBe(404);

  // Pages are compressed too.
  const login = await request.get("/login", { headers: { "Accept-Encoding": "br, gzip" } });
  expect(login.status()).toBe(200);
  expect(login.headers()["content-encoding"]).toBe("br");
  expect(await login.text()).toContain("Sign in");
});
