import { spawn } from 'node:child_process';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shebangNodeFlags } from '../src/node-flags.ts';
import { listenDemoUpstream } from './demo-upstream.ts';
import { refuseIfRunning } from './running-proxy.ts';
import { writeServedConfig } from './served-config.ts';

/**
 * `npm start`: the demo upstream plus the built proxy on run/proxy.yaml (examples/proxy.yaml
 * with the admin socket in run/), in the foreground. Ctrl-C stops both.
 */
const root = fileURLToPath(new URL('..', import.meta.url));
const fail = (what: string) => (err: Error) => {
  process.stderr.write(`${what}: ${err.message}\n`);
  process.exit(1);
};
// Everything that can find the ports taken comes before run/proxy.yaml is rewritten.
await refuseIfRunning(root);
const upstream = await listenDemoUpstream('demo', 8081).catch(fail('demo upstream'));
const served = await writeServedConfig(root).catch(fail('npm start'));
const cli = 'dist/cli.js';
const config = relative(root, served.path);
const nodeFlags = shebangNodeFlags(`${root}/${cli}`);
const proxy = spawn(process.execPath, [...nodeFlags, cli, 'serve', '-c', config], {
  cwd: root,
  stdio: 'inherit',
});
// dist/cli.js runs on Node 24 only: the one npm ci installed, whatever the system's node is.
const ctl = `./node_modules/.bin/node ${cli} ctl -s ${relative(root, served.socket)}`;
process.stdout.write(
  "try: curl -H 'Host: demo.localhost' http://127.0.0.1:8080/hello\n" +
    '     curl http://127.0.0.1:9900/readyz ; curl http://127.0.0.1:9900/metrics\n' +
    (served.socket === ''
      ? ''
      : `     ${ctl} status ; ${ctl} reload   (after editing ${config})\n`),
);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => proxy.kill(signal));
}
proxy.on('exit', (code, signal) => {
  upstream.close();
  process.exit(code ?? (signal === null ? 0 : 1));
});
