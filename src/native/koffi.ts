import { createRequire } from 'node:module';
import type * as Koffi from 'koffi';

let koffi: typeof Koffi | undefined;
let libc: Koffi.LibraryHandle | undefined;

/**
 * koffi, loaded on first use: createRequire keeps the callers synchronous (an accept or a peer
 * check must decide before the next byte), and a proxy that never needs FFI never loads it.
 * Throws when the native module cannot load (unsupported platform, missing prebuilt binary).
 */
export function loadKoffi(): typeof Koffi {
  koffi ??= createRequire(import.meta.url)('koffi') as typeof Koffi;
  return koffi;
}

/**
 * The C library node itself is linked against: `load(null)` is dlopen(NULL), so glibc and musl
 * alike. Cached, because koffi.load and func resolve symbols, far too slow to repeat per call.
 */
export function processLibc(): Koffi.LibraryHandle {
  libc ??= loadKoffi().load(null);
  return libc;
}
