// The signal side of StopFlag (lib/train/run.ts) for the Deno host (lib/host/deno.ts watchStop), in a
// worker thread of its own. On the software adapters `queue.submit` runs the GPU work on the calling
// thread (measured: 0.8-2.4 s per sampling step at batch 16), and a sampling loop has no macrotask
// boundary between steps, so a listener on the main thread ran only at the next readback, ~10 s after
// Ctrl-C. This thread is never blocked: the first SIGINT / SIGTERM sets the shared flag at once, which
// the training loop reads synchronously between updates; then the listeners are removed, which
// restores the default action, so a second signal ends the process immediately, even in the middle
// of a GPU step, without any JavaScript running. (A checkpoint being written then is a temporary
// folder never renamed into place, removed when the run resumes: lib/io/checkpoint.ts.)
/// <reference lib="deno.worker" />

const SIGNALS = ["SIGINT", "SIGTERM"] as const;

self.onmessage = (e: MessageEvent<{ flag: SharedArrayBuffer; message: string }>) => {
  const flag = new Int32Array(e.data.flag);
  const onSignal = () => {
    for (const sig of SIGNALS) {
      try {
        Deno.removeSignalListener(sig, onSignal);
      } catch { /* not registered on this platform */ }
    }
    Atomics.store(flag, 0, 1);
    console.error(e.data.message);
  };
  for (const sig of SIGNALS) {
    try {
      Deno.addSignalListener(sig, onSignal);
    } catch { /* SIGTERM is not supported on Windows */ }
  }
  self.postMessage("ready");
};
