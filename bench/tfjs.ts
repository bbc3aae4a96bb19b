// Loads TensorFlow.js with its WebGPU backend (bench only). It asks navigator.gpu for its own device
// on the same adapter. Returns the module, or the reason it could not start.
import type { Tf } from "./cases.ts";

export async function loadTfjs(): Promise<{ tf: Tf } | { error: string }> {
  try {
    const tf = await import("@tensorflow/tfjs-core");
    // tfjs-core's bundle has no gradient functions and its register_all_gradients.js (ESM with
    // extensionless imports) does not load under Deno; the umbrella package's bundle registers them
    // into the same tfjs-core. Needed for tf.grads (the forward_backward rows).
    await import("@tensorflow/tfjs");
    await import("@tensorflow/tfjs-backend-webgpu");
    const ok = await tf.setBackend("webgpu");
    await tf.ready();
    if (!ok || tf.getBackend() !== "webgpu") return { error: `backend is ${tf.getBackend()}, not webgpu` };
    return { tf };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}
