/**
 * Where the addon's .node file is, in napi-rs's layout: a local build (native/ beside src/ and dist/,
 * or TESSERA_NATIVE_DIR), else the per-platform package that npm installed as an optional dependency
 * (`@tessera/kernels-native-<platform>`, the binary its `main`).
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** napi-rs's name for this platform: linux-x64-gnu, linux-arm64-musl, darwin-arm64, win32-x64-msvc, ... */
export function platformTriple(): string {
  const base = `${process.platform}-${process.arch}`;
  if (process.platform === 'win32') return `${base}-msvc`;
  if (process.platform !== 'linux') return base;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return `${base}-${header?.glibcVersionRuntime ? 'gnu' : 'musl'}`;
}

/** The per-platform package that holds this platform's prebuilt addon. */
export const platformPackage = (): string => `@tessera/kernels-native-${platformTriple()}`;

/** The addon found: its path, and whether it is a local build (whose age against its sources can be checked). */
export interface AddonFile { path: string; local: boolean }

/** The addon's file, or one line saying what is missing. */
export function locateAddon(): AddonFile | string {
  const env = process.env['TESSERA_NATIVE_DIR'];
  const dir = env ? `${env}/` : fileURLToPath(new URL('../native/', import.meta.url));
  const built = existsSync(dir) ? readdirSync(dir).find((f) => f.endsWith('.node')) : undefined;
  if (built) return { path: `${dir}${built}`, local: true };
  const pkg = platformPackage();
  try {
    return { path: createRequire(import.meta.url).resolve(pkg), local: false };
  } catch {
    const build = 'in the Tessera repository: npm run build -w @tessera/kernels-native, needs cargo';
    return `no binary for ${platformTriple()}: ${pkg} is not installed and there is no local build (${build})`;
  }
}
