// Kernel loading: one .wgsl file per op family, compiled once per context, pipelines cached per
// (entry point, override constants). Compile errors surface as `kernels/<file>.wgsl:line:col`.
import { formatCompileMessage } from "./errors.ts";

const KERNEL_DIR = new URL("../../kernels/", import.meta.url);

/** A typed handle on one WGSL file. Op wrappers in lib/ops hold these; nothing looks kernels up by string. */
export class KernelFile {
  readonly file: string;
  readonly url: URL;
  /** `name` inside kernels/; `dir` only for tests that compile a kernel from elsewhere. */
  constructor(name: string, dir: URL = KERNEL_DIR) {
    this.file = `kernels/${name}`;
    this.url = new URL(name, dir);
  }
}

export interface CompiledModule {
  module: GPUShaderModule;
  source: string;
  /** Resolves to an error message when the WGSL did not compile, else null. */
  check: Promise<string | null>;
  /** Binding numbers declared `var<storage, read_write>` (group 0). */
  writable: Set<number>;
}

/** The binding numbers a WGSL source declares as read_write storage. */
export function writableBindings(source: string): Set<number> {
  const out = new Set<number>();
  for (const m of source.matchAll(/@binding\((\d+)\)\s*var<storage,\s*read_write>/g)) out.add(Number(m[1]));
  return out;
}

/** Compiles `source` (the kernel's WGSL, read by the host: lib/host/host.ts kernelSource). */
export function compileModule(device: GPUDevice, kernel: KernelFile, source: string): CompiledModule {
  const module = device.createShaderModule({ code: source, label: kernel.file });
  const check = module.getCompilationInfo().then((info) => {
    const errs = info.messages.filter((m) => m.type === "error");
    if (!errs.length) return null;
    return errs.map((m) => formatCompileMessage(kernel.file, source, m)).join("\n");
  });
  return { module, source, check, writable: writableBindings(source) };
}

/** Cache key for a pipeline: file, entry point and override constants. */
export function pipelineKey(kernel: KernelFile, entry: string, overrides?: Record<string, number>): string {
  if (!overrides) return `${kernel.file}#${entry}`;
  const o = Object.keys(overrides).sort().map((k) => `${k}=${overrides[k]}`).join(",");
  return `${kernel.file}#${entry}{${o}}`;
}
