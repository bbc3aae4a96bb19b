// The WebGPU backend a context runs on, and the label that names it. The host chooses it
// (lib/host/deno.ts: DENO_WEBGPU_BACKEND or a Vulkan driver; lib/host/browser.ts: the browser's own).
// Both Mesa software drivers report the adapter name "llvmpipe", so the label says which backend ran.

export interface BackendChoice {
  /** The backend asked for ("vulkan", "gl", ...), "default" when wgpu chooses, "browser" in a page. */
  backend: string;
  /** Why: "DENO_WEBGPU_BACKEND", "vulkan driver <manifest>", "wgpu default", ... */
  reason: string;
}

const PRETTY: Record<string, string> = {
  vulkan: "Vulkan",
  gl: "GL",
  metal: "Metal",
  dx12: "D3D12",
  browser: "browser WebGPU",
};

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
