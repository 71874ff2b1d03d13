import { constants, createBrotliCompress, createGzip } from 'node:zlib';
import type { BrotliCompress, Gzip } from 'node:zlib';
import type { Coding } from './accept-encoding.ts';
import type { ClientRequest, ClientResponse } from './client-side.ts';
import { prepareCompression } from './response-compression.ts';

/**
 * Levels, measured on a 64 KB HTML page (bench/html-body.ts, one core of the benchmark
 * machine): gzip 1 gives 15.4 KB in 0.32 ms, 5 gives 13.4 KB in 0.92 ms, 6 (zlib's default)
 * 12.9 KB in 1.47 ms, 9 12.8 KB in 2.0 ms; br 4 gives 14.7 KB in 0.62 ms, 5 13.3 KB in 1.0 ms,
 * 6 12.8 KB in 1.2 ms, 11 11.0 KB in 70 ms. gzip 5 is where the size curve flattens (Caddy's
 * and many nginx guides' choice); br 5 costs the same and gives a little less. The brotli
 * window is 64 KB (lgwin 16) instead of 4 MB: the same output on pages this size, and memory
 * per response being compressed about gzip's (measured: ~240 KB for gzip 5; br 5 ~265 KB with
 * lgwin 16, ~680 KB with 18, more with 22). Each compressed response in flight holds that.
 */
const GZIP_LEVEL = 5;
const BROTLI_QUALITY = 5;
const BROTLI_LGWIN = 16;

/**
 * For a route with `compress: true`: the body writer for this response when it is compressed
 * (its headers are rewritten by prepareCompression), undefined when the body goes as it is.
 */
export function compressedBody(
  req: ClientRequest,
  status: number,
  headers: Record<string, string | string[] | undefined>,
  res: ClientResponse,
): CompressedBody | undefined {
  const coding = prepareCompression(req, status, headers);
  return coding === undefined ? undefined : new CompressedBody(coding, res);
}

/**
 * A response body written to the client through a zlib compressor, as it arrives.
 *
 * Every piece written is flushed (Z_SYNC_FLUSH, BROTLI_OPERATION_FLUSH): what the upstream
 * has sent reaches the client without waiting for more, so a slow stream (a log tail, chunked
 * JSON lines) is not held back. The cost is a few bytes per piece, and pieces are whole socket
 * reads (up to 64 KB), so a fast body is flushed a handful of times.
 *
 * Backpressure: write() returns false while the compressor's input is full; its output waits
 * (the compressor paused) while the client's buffer is full, which in turn fills its input.
 * A client gone (the response closed) destroys the compressor, which frees its memory at once.
 */
export class CompressedBody {
  /** Compressed bytes handed to the client: the response's bytes_sent. */
  bytesOut = 0;
  readonly coding: Coding;
  readonly #zlib: Gzip | BrotliCompress;
  #waiting = false;

  constructor(coding: Coding, res: ClientResponse) {
    this.coding = coding;
    const zlib =
      coding === 'gzip'
        ? createGzip({ level: GZIP_LEVEL, flush: constants.Z_SYNC_FLUSH })
        : createBrotliCompress({
            flush: constants.BROTLI_OPERATION_FLUSH,
            params: {
              [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
              [constants.BROTLI_PARAM_LGWIN]: BROTLI_LGWIN,
            },
          });
    this.#zlib = zlib;
    const resume = () => {
      this.#waiting = false;
      zlib.resume();
    };
    zlib.on('data', (out: Buffer) => {
      this.bytesOut += out.length;
      if (!res.write(out) && !this.#waiting) {
        this.#waiting = true;
        zlib.pause();
        res.once('drain', resume);
      }
    });
    zlib.on('end', () => res.end());
    // A compressor that fails (out of memory) leaves a body that cannot be finished: cut it.
    zlib.on('error', () => res.destroy());
    res.on('close', () => zlib.destroy());
  }

  /** False while the compressor's input is full: wait for 'drain'. */
  write(chunk: Buffer): boolean {
    return this.#zlib.write(chunk);
  }

  once(_event: 'drain', listener: () => void): void {
    this.#zlib.once('drain', listener);
  }

  /** Finishes the body; `done` runs once the compressor is over (finished or destroyed). */
  end(done: () => void): void {
    this.#zlib.once('close', done);
    this.#zlib.end();
  }

  /** For the metrics: `bytesIn` is what the upstream sent into the compressor. */
  figures(bytesIn: number): { coding: Coding; bytesIn: number; bytesOut: number } {
    return { coding: this.coding, bytesIn, bytesOut: this.bytesOut };
  }

  destroy(): void {
    this.#zlib.destroy();
  }
}
