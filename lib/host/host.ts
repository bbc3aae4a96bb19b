// The host: what lib/ needs from the machine it runs on, as one explicit object. Two implementations:
//   lib/host/deno.ts     Deno: files, the process (args, env, exit, signals, stderr), sharp for images,
//                        the WebGPU backend choice, kernel sources read from kernels/
//   lib/host/browser.ts  a page: files fetched from the site (listed by a manifest) under an in-memory
//                        layer that takes every write, images through ImageBitmap and canvas, kernel
//                        sources fetched once at start
// Nothing under lib/ calls Deno.* except lib/host/deno*.ts (tests/host/host_test.ts checks). A
// GpuContext carries its host (`ctx.host`); functions without a context take the host as their
// first argument. Entry points (tasks, tests, the page) create the host and pass it down: there is
// no module-level host, as there is no module-level device.
//
// The file API mirrors the subset of Deno's that lib/ uses (same names, same semantics), so that code
// reads the same on both hosts and the Deno host is a thin forwarder. Paths are "/"-separated.
import type { BackendChoice } from "../gpu/backend.ts";
import type { KernelFile } from "../gpu/kernel.ts";
import type { RgbImage } from "../io/images.ts";

export interface FileInfo {
  isFile: boolean;
  isDirectory: boolean;
  isSymlink: boolean;
  size: number;
}

export interface DirEntry {
  name: string;
  isFile: boolean;
  isDirectory: boolean;
  isSymlink: boolean;
}

export interface WriteOptions {
  /** Append instead of replacing. */
  append?: boolean;
  /** fsync before returning (lib/io/atomic.ts: the data is on disk before the rename). */
  sync?: boolean;
}

export interface HostFs {
  readFile(path: string): Promise<Uint8Array>;
  /** A file in chunks, for hashing large files without holding them whole. */
  readChunks(path: string): AsyncIterable<Uint8Array>;
  readTextFile(path: string): Promise<string>;
  /** Sync read, for the few callers that cannot await (YAML configs read during flag parsing). */
  readTextFileSync(path: string): string;
  writeFile(path: string, data: Uint8Array | string, opts?: WriteOptions): Promise<void>;
  mkdir(path: string, opts?: { recursive?: boolean }): Promise<void>;
  remove(path: string, opts?: { recursive?: boolean }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  copyFile(from: string, to: string): Promise<void>;
  stat(path: string): Promise<FileInfo>;
  lstat(path: string): Promise<FileInfo>;
  readDir(path: string): AsyncIterable<DirEntry>;
  realPath(path: string): Promise<string>;
  /** Creates an empty file with a unique name in `dir`; returns its path. */
  makeTempFile(opts: { dir: string; prefix: string }): Promise<string>;
  /** Best-effort fsync of a folder, so a rename inside it survives a power loss. */
  syncDir(path: string): Promise<void>;
  /** Whether `e` (thrown by a method above) means "no such file or folder". */
  isNotFound(e: unknown): boolean;
  /** Whether `e` means a path component is a file where a folder was expected. */
  isNotADirectory(e: unknown): boolean;
}

/** Decoding and encoding images: sharp (libvips) under Deno, ImageBitmap and canvas in a page. */
export interface HostImages {
  /** An image file (first frame of an animation) as 8-bit RGB, alpha dropped; centre-cropped and
   * resized to size x size when given. */
  read(path: string, size?: number): Promise<RgbImage>;
  /** Every frame of an animated GIF/WebP (a still image gives one), as read() does per frame. */
  readFrames(path: string, size?: number): Promise<RgbImage[]>;
  resize(img: RgbImage, size: number): Promise<RgbImage>;
  /** PNG, JPEG (quality 95) or lossless WebP bytes. */
  encode(img: RgbImage, format: "png" | "jpeg" | "webp"): Promise<Uint8Array>;
  /** A looping animation from frames stacked vertically in `strip` (each `frameHeight` rows). */
  encodeAnimation(
    strip: RgbImage,
    frameHeight: number,
    format: "gif" | "webp",
    delaysMs: number[],
  ): Promise<Uint8Array>;
  /** An SVG rasterised (anti-aliased) to RGB bytes [H, W, 3] at its own width and height. */
  renderSvg(svg: string): Promise<Uint8Array>;
  /** An SVG rasterised straight to PNG bytes (the data generators' fast path). */
  svgToPng(svg: string): Promise<Uint8Array>;
}

export interface HostProcess {
  /** Distinguishes processes in temporary file names. */
  readonly pid: number;
  readonly args: readonly string[];
  /** An environment variable; undefined when unset or not readable. */
  env(name: string): string | undefined;
  exit(code: number): never;
  /**
   * Sets flag[0] to 1 on the first SIGINT / SIGTERM as soon as it arrives, even while the calling
   * thread is blocked in a GPU submission (Deno: a worker thread), and lets a second one end the
   * process at once. Resolves when listening; call the returned function to stop listening.
   */
  watchStop(flag: Int32Array, message: string): Promise<() => void>;
  /** Progress lines and warnings. */
  writeStderr(text: string): void;
  stderrIsTerminal(): boolean;
}

export interface Host {
  /** "deno" or "browser", for messages. */
  readonly name: string;
  readonly fs: HostFs;
  readonly images: HostImages;
  readonly proc: HostProcess;
  /** The WGSL source of a kernel file, synchronously (pipelines compile on first use, inside ctx.run). */
  kernelSource(kernel: KernelFile): string;
  /** Decides the WebGPU backend before the first requestAdapter (Deno's wgpu reads it once). */
  chooseBackend(): BackendChoice;
}
