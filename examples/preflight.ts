import { fileURLToPath } from 'node:url';
import { refuseIfRunning } from './running-proxy.ts';

/** `npm start`'s prestart step: refuse before the build rewrites dist/ under a running proxy. */
await refuseIfRunning(fileURLToPath(new URL('..', import.meta.url)));
