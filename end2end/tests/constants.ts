/** The password of every account the tests create. */
export const PASSWORD = "correct horse battery staple";
/** The administrator the test server is started with (playwright.config.ts). */
export const ADMIN_EMAIL = "admin@clavis-e2e.test";
export const ADMIN_PASSWORD = PASSWORD;
