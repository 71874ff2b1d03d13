import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it } from 'node:test';
import { ProxyListeners } from '../../../src/proxy/listeners.ts';
import { EMPTY_CERTIFICATES } from '../../../src/tls/certificates.ts';
import { holdLoopWhileHandshaking } from '../../helpers.ts';

describe('ProxyListeners.close', { skip: process.platform !== 'linux' && 'Linux only' }, () => {
  it('drains requests on sockets the accept drain took, not only those libuv accepted', async () => {
    let arrived = 0;
    let allArrived: () => void = () => undefined;
    const arrivedAll = new Promise<void>((resolve) => (allArrived = resolve));
    const count = 10;
    const listeners = new ProxyListeners(
      (req, res) => {
        // Later requests finish later, so a close() that waited for libuv's one connection
        // only would resolve with most of these still in flight.
        const index = Number(req.url?.slice(1));
        setTimeout(() => res.end(Buffer.from(`done ${index}`)), 50 + index * 30);
        if (++arrived === count) allArrived();
      },
      (_req, socket) => socket.destroy(),
      {
        header_timeout_ms: 60_000,
        body_idle_timeout_ms: 60_000,
        body_min_rate_bytes_per_s: 512,
        request_timeout_ms: 300_000,
        keepalive_timeout_ms: 75_000,
      },
      { certificates: () => EMPTY_CERTIFICATES, onHandshakeFailure: () => undefined },
    );
    const [bound] = await listeners.listen([
      { host: '127.0.0.1', port: 0, tls: false, http2: false },
    ]);
    const port = Number(bound?.slice(bound.lastIndexOf(':') + 1));
    const finished: string[] = [];
    const requests = Array.from(
      { length: count },
      (_, i) =>
        new Promise<void>((resolve, reject) => {
          http
            .get({ port, host: '127.0.0.1', path: `/${i}`, agent: false }, (res) => {
              let body = '';
              res.setEncoding('utf8').on('data', (c: string) => (body += c));
              res.on('end', () => {
                finished.push(body);
                resolve();
              });
            })
            .on('error', reject);
        }),
    );
    await holdLoopWhileHandshaking();
    await arrivedAll;
    const outcome = await listeners.close(5_000);
    assert.equal(outcome, 'drained');
    assert.equal(finished.length, count, 'close() resolved only after every response ended');
    await Promise.all(requests);
  });
});
