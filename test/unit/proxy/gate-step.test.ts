import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { BcryptBusyError } from '../../../src/access/bcrypt-pool.ts';
import type { GateDeps, GateRequest, GateVerdict } from '../../../src/access/request-gate.ts';
import { compileGate } from '../../../src/access/route-gate.ts';
import type { RouteGate } from '../../../src/access/route-gate.ts';
import { passGate } from '../../../src/proxy/gate-step.ts';

const gate = compileGate(
  's',
  '/',
  {},
  {
    access: { basic_auth: { realm: 'r', htpasswd_file: '/unused' } },
  },
) as RouteGate;
const request = {
  req: { rawHeaders: ['Authorization', 'Basic dTpw'] },
  identity: { id: 'id-1' },
  client: '127.0.0.1',
  route: { site: 's', path: '/' },
} as unknown as GateRequest;

/** The verdict passGate hands on when the basic auth check ends with `outcome`. */
function verdictWhen(outcome: () => Promise<boolean>): Promise<GateVerdict> {
  const deps = {
    log: pino({ level: 'silent' }),
    gate: { basicAuth: { check: outcome } } as unknown as GateDeps,
  };
  return new Promise((resolve) => passGate(deps, gate, request, () => undefined, resolve));
}

describe('passGate: a check that ends in an error', () => {
  it('answers a full bcrypt queue 503 auth_busy with Retry-After: overload, not an outage', async () => {
    const verdict = await verdictWhen(() => Promise.reject(new BcryptBusyError()));
    assert.deepEqual(verdict, {
      pass: false,
      reason: 'auth_busy',
      refusal: 'auth_busy',
      headers: { 'retry-after': '1' },
    });
  });

  it('refuses on any other error (fails closed)', async () => {
    const verdict = await verdictWhen(() => Promise.reject(new Error('a bug')));
    assert.equal(verdict.pass, false);
    assert.equal('refusal' in verdict ? verdict.refusal : undefined, 'auth_unavailable');
  });
});
