import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { shebangNodeFlags } from '../src/node-flags.ts';
import { listenDemoUpstream } from './demo-upstream.ts';

/**
 * `npm start`: the demo upstream plus the built proxy on examples/proxy.yaml, in the
 * foreground. Ctrl-C stops both.
 */
const root = fileURLToPath(new URL('..', import.meta.url));
const upstream = await listenDemoUpstream('demo', 8081).catch((err: Error) => {
  process.stderr.write(`demo upstream: ${err.message}\n`);
  process.exit(1);
});
const cli = 'dist/cli.js';
const nodeFlags = shebangNodeFlags(`${root}/${cli}`);
const proxy = spawn(process.execPath, [...nodeFlags, cli, 'serve', '-c', 'examples/proxy.yaml'], {
  cwd: root,
  stdio: 'inherit',
});
process.stdout.write(
  "try: curl -H 'Host: demo.localhost' http://127.0.0.1:8080/hello\n" +
    '     curl http://127.0.0.1:9900/readyz ; curl http://127.0.0.1:9900/metrics\n',
);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => proxy.kill(signal));
}
proxy.on('exit', (code, signal) => {
  upstream.close();
  process.exit(code ?? (signal === null ? 0 : 1));
});
