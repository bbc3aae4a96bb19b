// Turning WebGPU's diagnostics into exceptions that name the kernel file and line.

/** Formats a WGSL compilation message as `kernels/<file>.wgsl:line:col: message` plus the offending line. */
export function formatCompileMessage(file: string, source: string, msg: GPUCompilationMessage): string {
  const lines = source.split("\n");
  const text = lines[msg.lineNum - 1] ?? "";
  const first = msg.message.trim().split("\n")[0];
  return `${file}:${msg.lineNum}:${msg.linePos}: ${msg.type}: ${first}\n    ${text.trim()}`;
}

/** Thrown when no WebGPU adapter is available; says what to install. */
export class NoAdapterError extends Error {
  constructor(backend?: { backend: string; reason: string }) {
    if (backend?.backend === "browser") {
      super(
        "this browser has WebGPU but gave no adapter: WebGPU may be off for this GPU or blocklisted " +
          "(chrome://gpu says why); Chromium without a GPU needs --enable-unsafe-webgpu (SwiftShader)",
      );
      this.name = "NoAdapterError";
      return;
    }
    const tried = backend && backend.backend !== "default"
      ? ` with backend ${backend.backend} (${backend.reason}; set DENO_WEBGPU_BACKEND=gl or =vulkan to choose)`
      : "";
    super(
      `no WebGPU adapter found${tried}. On Linux without a GPU install Mesa's software Vulkan driver ` +
        "(`apt-get install -y mesa-vulkan-drivers`, gives lavapipe) or make sure llvmpipe GL " +
        "(libgl1-mesa-dri, libegl-mesa0) is present; with a GPU, install its Vulkan driver. " +
        "Then rerun; `deno task setup` checks this for you.",
    );
    this.name = "NoAdapterError";
  }
}

/** A GPU error (validation, out-of-memory, device loss) with the kernels that were in flight. */
export class GpuError extends Error {
  constructor(kind: string, message: string, kernels: string[]) {
    const where = kernels.length ? ` (kernels in this submission: ${kernels.slice(-8).join(", ")})` : "";
    super(`WebGPU ${kind} error${where}: ${message}`);
    this.name = "GpuError";
  }
}
