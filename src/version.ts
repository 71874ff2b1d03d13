import { readFileSync } from 'node:fs';

let version: string | undefined;

/**
 * This build's version: package.json's, read once. The file sits one level above this module
 * in the checkout (src/) and in the build (dist/, which the image ships with package.json).
 */
export function packageVersion(): string {
  version ??= String(
    JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version,
  );
  return version;
}
