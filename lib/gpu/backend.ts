// Which WebGPU backend Deno's wgpu uses, chosen before the first requestAdapter (wgpu reads
// DENO_WEBGPU_BACKEND once, when it creates its instance, so the choice cannot be retried in-process).
//   DENO_WEBGPU_BACKEND set by the user  -> used as is (the documented override: vulkan | gl | metal | dx12)
//   Linux with a Vulkan driver manifest  -> vulkan (on machines without a GPU this is Mesa's lavapipe,
//                                           measured faster than llvmpipe through GL; see README)
//   otherwise                            -> wgpu's own default
// Both Mesa software drivers report the adapter name "llvmpipe", so the label says which backend ran.

export interface BackendChoice {
  /** The backend asked for ("vulkan", "gl", ...), or "default" when wgpu chooses. */
  backend: string;
  /** Why: "DENO_WEBGPU_BACKEND", "vulkan driver <manifest>", or "wgpu default". */
  reason: string;
}

/** Where the Vulkan loader looks for driver manifests (ICD JSON files) on Linux. */
const ICD_DIRS = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d"];

function envGet(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // no env permission: leave the choice to wgpu
  }
}

/** The first Vulkan driver manifest on this machine, or null. */
export function vulkanManifest(): string | null {
  const listed = envGet("VK_DRIVER_FILES") ?? envGet("VK_ICD_FILENAMES");
  if (listed) return listed.split(":")[0];
  for (const dir of ICD_DIRS) {
    try {
      for (const e of Deno.readDirSync(dir)) if (e.name.endsWith(".json")) return `${dir}/${e.name}`;
    } catch { /* no such folder */ }
  }
  return null;
}

let chosen: BackendChoice | null = null;

/** Decides the backend once per process (and sets DENO_WEBGPU_BACKEND so child processes agree). */
export function chooseBackend(): BackendChoice {
  if (chosen) return chosen;
  const env = envGet("DENO_WEBGPU_BACKEND");
  if (env) return chosen = { backend: env.toLowerCase(), reason: "DENO_WEBGPU_BACKEND" };
  const manifest = Deno.build.os === "linux" ? vulkanManifest() : null;
  if (manifest) {
    try {
      Deno.env.set("DENO_WEBGPU_BACKEND", "vulkan");
      return chosen = { backend: "vulkan", reason: `vulkan driver ${manifest}` };
    } catch { /* no env permission */ }
  }
  return chosen = { backend: "default", reason: "wgpu default" };
}

const PRETTY: Record<string, string> = { vulkan: "Vulkan", gl: "GL", metal: "Metal", dx12: "D3D12" };

/** "Vulkan / llvmpipe (lavapipe) ..., software": names backend and adapter unambiguously. */
export function backendLabel(choice: BackendChoice, adapterName: string, software: boolean): string {
  const b = PRETTY[choice.backend] ?? choice.backend;
  let name = adapterName;
  if (/llvmpipe/i.test(name)) {
    if (choice.backend === "vulkan") name = name.replace(/llvmpipe/i, "llvmpipe (lavapipe)");
    else if (choice.backend === "gl") name = name.replace(/llvmpipe/i, "llvmpipe (GL)");
  }
  return `${b} / ${name}${software ? ", software" : ""}`;
}
