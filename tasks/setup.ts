// deno task setup [--check]: makes sure this machine can run the toolkit, and installs what it lacks.
//   1. npm packages the tasks import (sharp, yaml, tfjs for the bench): `deno install` into node_modules/
//   2. a WebGPU adapter, on the faster backend: on Linux without a GPU that is Mesa's lavapipe through
//      Vulkan (a training step measured ~1.2x faster than llvmpipe through GL); when no Vulkan driver is
//      installed and we are root with apt-get, install mesa-vulkan-drivers; otherwise say the command.
//   3. with --browser (what `deno task test-web` runs first): Debian's chromium for the browser test,
//      `apt-get install -y chromium` when root; never a browser downloaded by playwright.
// --check (what `deno task demo` and `deno task test` run first): quiet when everything is there; does
// only the missing steps, saying what it installs and why. Safe to run twice.
import { defineCli, flag } from "../lib/cli/flags.ts";
import { startTask } from "../lib/cli/main.ts";
import { backendLabel } from "../lib/gpu/backend.ts";
import { denoHost, vulkanManifest } from "../lib/host/deno.ts";
import { chromiumPath } from "../web/chromium.ts";

const host = denoHost();

const { check, browser } = startTask(
  host,
  defineCli({
    task: "setup",
    purpose: "makes sure this machine can run the toolkit and installs what it lacks: the npm packages " +
      "(deno install) and a WebGPU adapter on the faster backend (Mesa's lavapipe via apt-get when root).",
    flags: {
      check: flag.bool("quiet when everything is there; do only the missing steps"),
      browser: flag.bool("also Debian's chromium for the browser test (deno task test-web)"),
    },
    examples: ["deno task setup"],
  }),
).flags;
const deno = Deno.execPath();
const root = new URL("..", import.meta.url).pathname;

async function sh(cmd: string[], quiet = false, env: Record<string, string> = {}): Promise<boolean> {
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    cwd: root,
    env,
    stdout: quiet ? "null" : "inherit",
    stderr: quiet ? "null" : "inherit",
  }).output();
  return out.success;
}

/** Adapter name with the given backend, probed in a child process (wgpu picks a backend once per process). */
async function probe(backend: string): Promise<string | null> {
  const code = "const a = await navigator.gpu?.requestAdapter(); console.log(a ? a.info.description || " +
    "a.info.vendor || 'adapter' : '');";
  const out = await new Deno.Command(deno, {
    args: ["eval", code],
    env: { DENO_WEBGPU_BACKEND: backend, XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
    stdout: "piped",
    stderr: "null",
  }).output();
  const name = new TextDecoder().decode(out.stdout).trim();
  return out.success && name ? name : null;
}

const exists = (p: string) => Deno.stat(`${root}${p}`).then(() => true, () => false);

// 1. npm packages.
const packages = ["node_modules/sharp/package.json", "node_modules/yaml/package.json"];
const missing = !(await Promise.all(packages.map(exists))).every((x) => x);
if (missing || !check) {
  if (missing) {
    console.log("setup: installing the npm packages the tasks import (deno install: sharp, yaml, tfjs)");
  }
  if (!await sh([deno, "install", "--quiet"], false)) {
    throw new Error("setup: `deno install` failed (is the npm registry reachable?)");
  }
}

// 2. The WebGPU adapter. A user's DENO_WEBGPU_BACKEND is respected and only checked.
const userBackend = Deno.env.get("DENO_WEBGPU_BACKEND");
const linux = Deno.build.os === "linux";
const isRoot = Deno.uid?.() === 0;
const hasApt = linux && await sh(["sh", "-c", "command -v apt-get"], true);
const installCmd = "apt-get install -y mesa-vulkan-drivers";
let label: string | null = null;
if (userBackend) {
  const name = await probe(userBackend);
  if (!name) {
    throw new Error(`setup: DENO_WEBGPU_BACKEND=${userBackend}: no WebGPU adapter on that backend`);
  }
  label = `${userBackend} / ${name} (DENO_WEBGPU_BACKEND)`;
} else if (!linux) {
  const name = await probe("");
  if (!name) throw new Error("setup: no WebGPU adapter; install your GPU's driver and rerun");
  label = name;
} else {
  let vk = vulkanManifest() ? await probe("vulkan") : null;
  if (!vk) {
    const why = "no Vulkan driver, so WebGPU would fall back to llvmpipe through GL, which is slower";
    if (isRoot && hasApt) {
      console.log(`setup: ${why}; installing mesa-vulkan-drivers (Mesa's software Vulkan, lavapipe)`);
      const env = { DEBIAN_FRONTEND: "noninteractive" };
      const ok = await sh(["apt-get", "install", "-y", "-qq", "mesa-vulkan-drivers"], true, env) ||
        (await sh(["apt-get", "update", "-qq"], true, env) &&
          await sh(["apt-get", "install", "-y", "-qq", "mesa-vulkan-drivers"], false, env));
      if (!ok) console.log(`setup: warning: \`${installCmd}\` failed`);
      vk = await probe("vulkan");
    } else {
      console.log(`setup: ${why}. To get the faster backend run as root: ${installCmd}`);
    }
  }
  if (vk) label = backendLabel({ backend: "vulkan", reason: "" }, vk, /llvmpipe|lavapipe/i.test(vk));
  else {
    const gl = await probe("gl");
    if (!gl) {
      throw new Error(
        `setup: no WebGPU adapter. Run as root: ${installCmd} (software Vulkan), or install your GPU's ` +
          "Vulkan driver, then rerun.",
      );
    }
    label = backendLabel({ backend: "gl", reason: "" }, gl, /llvmpipe/i.test(gl));
  }
}
// 3. Chromium for the browser test.
if (browser) {
  const bin = chromiumPath();
  const found = () => Deno.stat(bin).then((i) => i.isFile, () => false);
  if (!await found()) {
    const cmd = "apt-get install -y chromium";
    if (!isRoot || !hasApt) {
      throw new Error(`setup: the browser test needs Chromium at ${bin}; run as root: ${cmd}`);
    }
    console.log(`setup: installing Debian's chromium for the browser test (${cmd})`);
    const env = { DEBIAN_FRONTEND: "noninteractive" };
    const ok = await sh(["apt-get", "install", "-y", "-qq", "chromium"], true, env) ||
      (await sh(["apt-get", "update", "-qq"], true, env) &&
        await sh(["apt-get", "install", "-y", "-qq", "chromium"], false, env));
    if (!ok || !await found()) throw new Error(`setup: \`${cmd}\` failed; install Chromium and rerun`);
  }
  if (!check) console.log(`setup: Chromium for the browser test: ${bin}`);
}
if (!check) {
  console.log(`setup: WebGPU adapter: ${label}`);
  console.log("setup: done. Next: `deno task demo` (main job) or `deno task test`.");
}
