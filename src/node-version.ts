import type { ErrorCode } from './errors.ts';

/**
 * The Node.js major this build runs on: package.json's `engines` (">=24 <25"; a unit test
 * keeps the two in step). An older major lacks APIs the proxy uses and a newer one is
 * untested; either would fail later, deep inside some module, with an error naming neither.
 */
export const SUPPORTED_NODE_MAJOR = 24;

export const NODE_UNSUPPORTED: ErrorCode = 'ERR_NODE_UNSUPPORTED';

/**
 * What is wrong with running on Node `version` (`process.versions.node`), or undefined.
 * Plain syntax and no imports that run: this runs on whatever Node the operator has.
 */
export function nodeVersionProblem(version: string): string | undefined {
  const major = Number(version.split('.')[0]);
  if (major === SUPPORTED_NODE_MAJOR) return undefined;
  const range = `>=${SUPPORTED_NODE_MAJOR} <${SUPPORTED_NODE_MAJOR + 1}`;
  return (
    `Node.js ${version} is not supported: reverse-proxy needs Node.js ${SUPPORTED_NODE_MAJOR} ` +
    `(package.json engines "${range}"); in a checkout, \`npm ci\` installs it as ` +
    `./node_modules/.bin/node (${NODE_UNSUPPORTED})`
  );
}
