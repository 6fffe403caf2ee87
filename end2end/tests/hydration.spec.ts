import { expect, signInAsAdmin, test } from "./helpers";

// The server renders each signed-in page once. A page whose resources were made inside
// the sign-in gate was now and then built twice while rendering on the server (about
// one load in ten of /servers): the browser then got one build's HTML and another's
// data, and hydration panicked in tachys (issue 23, item 20). The resources a page
// sends are the same on every load, and none is an error.
test("every signed-in page renders once on the server, the same on every load", async ({ page }) => {
  test.setTimeout(120_000);
  await signInAsAdmin(page);
  for (const path of [
    "/credentials",
    "/credentials/new",
    "/credentials/rotate?client_id=x",
    "/credentials/revoke?client_id=x",
    "/servers",
    "/servers/new",
    "/servers/remove?slug=x",
    "/issuers",
    "/issuers/remove?name=x",
    "/teams",
    "/audit",
    "/admin/users",
  ]) {
    const seen = new Set<string>();
    for (let i = 0; i < 15; i++) {
      const html = await (await page.request.get(path)).text();
      const pending = html.match(/__PENDING_RESOURCES=\[[^\]]*\]/)?.[0];
      expect(pending, `${path}: no resources`).toBeDefined();
      expect(html, `${path}: a resource failed`).not.toContain('\\"Err\\":\\"Internal\\"');
      seen.add(pending ?? "");
    }
    expect([...seen], path).toHaveLength(1);
  }
});
