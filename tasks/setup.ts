// deno task setup: makes sure this machine can run the toolkit. Installs the npm packages the
// tasks import, checks for a WebGPU adapter and, when there is none on a Debian/Ubuntu machine
// where we are root, installs Mesa's software Vulkan driver (lavapipe). Safe to run twice.
const deno = Deno.execPath();

async function sh(cmd: string[], quiet = false): Promise<boolean> {
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdout: quiet ? "null" : "inherit",
    stderr: quiet ? "null" : "inherit",
  }).output();
  return out.success;
}

/** Probes in a child process: an adapter list is cached per process. */
async function adapterName(): Promise<string | null> {
  const code =
    "const a = await navigator.gpu?.requestAdapter(); console.log(a ? a.info.description || a.info.vendor || 'adapter' : '');";
  const out = await new Deno.Command(deno, { args: ["eval", code], stdout: "piped", stderr: "null" })
    .output();
  const name = new TextDecoder().decode(out.stdout).trim();
  return out.success && name ? name : null;
}

console.log("setup: npm packages for the tasks (deno install)");
if (!await sh([deno, "install"])) {
  throw new Error("setup: `deno install` failed (is the npm registry reachable?)");
}

let name = await adapterName();
if (!name) {
  const isRoot = Deno.uid?.() === 0;
  const hasApt = await sh(["sh", "-c", "command -v apt-get"], true);
  if (!isRoot || !hasApt) {
    throw new Error(
      "setup: no WebGPU adapter. Install a Vulkan driver: on Debian/Ubuntu `apt-get install -y mesa-vulkan-drivers` " +
        "(software, lavapipe) or your GPU's driver, then run `deno task setup` again.",
    );
  }
  console.log("setup: no WebGPU adapter; installing mesa-vulkan-drivers (software Vulkan, lavapipe)");
  const env = ["env", "DEBIAN_FRONTEND=noninteractive"];
  if (
    !await sh([...env, "apt-get", "update", "-qq"]) ||
    !await sh([...env, "apt-get", "install", "-y", "-qq", "mesa-vulkan-drivers"])
  ) {
    throw new Error("setup: apt-get install mesa-vulkan-drivers failed");
  }
  name = await adapterName();
  if (!name) throw new Error("setup: still no WebGPU adapter after installing mesa-vulkan-drivers");
}
console.log(`setup: WebGPU adapter: ${name}`);
console.log("setup: done. Next: `deno task demo` (main job) or `deno task test`.");
