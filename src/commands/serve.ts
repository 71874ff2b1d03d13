import { isProxyError } from '../errors.ts';
import { startProxy } from '../serve.ts';
import type { ConfigFlags } from './validate.ts';
import { describeConfigError, exitCodeFor } from './validate.ts';

/**
 * `reverse-proxy serve`: start, then live until a signal. SIGHUP reloads; SIGTERM and SIGINT
 * drain and exit 0; a second SIGINT exits at once (a person at a terminal means it).
 */
export async function runServe(flags: ConfigFlags): Promise<number> {
  let proxy;
  try {
    proxy = await startProxy(flags);
  } catch (err) {
    if (!isProxyError(err)) throw err;
    process.stderr.write(
      `reverse-proxy: cannot start\n${describeConfigError(flags.configPath, err)}`,
    );
    return err.code === 'ERR_LISTEN' ? 1 : exitCodeFor(err);
  }
  const { log, reloader } = proxy;
  process.on('SIGHUP', () => {
    // The reloader logs the outcome; a failure leaves the old config serving.
    reloader.reload('SIGHUP').catch(() => undefined);
  });
  const exit = new Promise<number>((resolve) => {
    let signals = 0;
    const stop = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        if (signal === 'SIGINT') process.exit(130);
        log.warn({ signal }, 'already draining');
        return;
      }
      void proxy.shutdown(signal).then(() => resolve(0));
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  proxy.announce();
  return exit;
}
