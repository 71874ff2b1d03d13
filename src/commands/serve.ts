import { errorLogFields, isProxyError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { startProxy } from '../serve.ts';
import type { ServeFlags } from '../serve.ts';
import { describeConfigError, exitCodeFor } from './validate.ts';

/**
 * `reverse-proxy serve`: start, then live until a signal. SIGHUP reloads; SIGTERM and SIGINT
 * drain and exit 0; a second SIGINT exits at once (a person at a terminal means it).
 */
export async function runServe(flags: ServeFlags): Promise<number> {
  let proxy;
  try {
    proxy = await startProxy(flags);
  } catch (err) {
    if (!isProxyError(err)) throw err;
    // A JSON line as well as the text: where only stdout is collected (a container's log), the
    // reason is there, in the shape of a failed reload's. The config's log level is unknown
    // when the config is what failed.
    createLogger('info').fatal(errorLogFields(err), 'cannot start');
    // Config errors print like `validate`; the others (listen, sockets) name their code, which
    // docs/errors.md explains.
    const isConfigError = err.code.startsWith('ERR_CONFIG_');
    process.stderr.write(
      isConfigError
        ? `reverse-proxy: cannot start\n${describeConfigError(flags.configPath, err)}`
        : `reverse-proxy: cannot start (${err.code})\n${err.message}\n`,
    );
    return isConfigError ? exitCodeFor(err) : 1;
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
