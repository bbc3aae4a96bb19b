// Headless Chromium on a built site, for the browser test (tests/web/browser_check.ts): Debian's
// `chromium` package (never a downloaded browser; `deno task setup --browser` installs it), driven by
// playwright-core. WebGPU comes from SwiftShader (--enable-unsafe-webgpu; no GPU is used), and the
// flags keep the browser off the network: the page talks only to the local server.
// playwright-core is imported when a browser starts, so tasks/setup.ts can read chromiumPath() alone.
import type { BrowserContext, Page } from "playwright-core";
import { serveSite, type SiteServer } from "./serve.ts";

/** The Chromium binary: SEPPO_CHROMIUM, else Debian's. */
export function chromiumPath(env: (name: string) => string | undefined = (n) => Deno.env.get(n)): string {
  return env("SEPPO_CHROMIUM") || "/usr/bin/chromium";
}

const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--enable-unsafe-webgpu",
];

export interface OpenPage {
  page: Page;
  server: SiteServer;
  /** Messages the page logged (console errors and uncaught exceptions included). */
  console: string[];
  close(): Promise<void>;
}

/** Serves `site` on localhost and opens it in a fresh headless Chromium (its own user-data-dir). */
export async function openSite(site: string): Promise<OpenPage> {
  const server = await serveSite(site, 0);
  const userDir = await Deno.makeTempDir({ prefix: "seppo-chromium-" });
  const close = async () => {
    await context?.close().catch(() => {});
    await server.close();
    await Deno.remove(userDir, { recursive: true }).catch(() => {});
  };
  let context: BrowserContext | null = null;
  try {
    const { chromium } = await import("playwright-core");
    context = await chromium.launchPersistentContext(userDir, {
      executablePath: chromiumPath(),
      headless: true,
      args: FLAGS,
      viewport: { width: 1280, height: 900 },
    });
    const page = context.pages()[0] ?? await context.newPage();
    const log: string[] = [];
    page.on("console", (m) => log.push(`${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => log.push(`pageerror: ${e.message}`));
    await page.goto(server.url);
    return { page, server, console: log, close };
  } catch (e) {
    await close();
    throw e;
  }
}
