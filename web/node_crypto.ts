// node:crypto for the browser bundle (web/build.ts maps the import here). lib/ hashes with it only to
// key the VAE-latent cache of latent models (lib/train/latent_data.ts), which the page does not offer
// (its models are pixel-space), so this stands in with a clear error instead of shipping SHA-256.
export function createHash(algorithm: string): never {
  throw new Error(
    `createHash(${JSON.stringify(algorithm)}): node:crypto is not available in the browser ` +
      "(the page trains pixel-space models only; latent models run under Deno)",
  );
}

export default { createHash };
