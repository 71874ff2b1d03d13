/** The content codings this proxy can apply to a response body. */
export type Coding = 'br' | 'gzip';

/**
 * The coding a client's Accept-Encoding asks for (RFC 9110 §12.5.3), or undefined for the
 * body as it is. `rawHeaders` is the request's [name, value, ...] list; several
 * Accept-Encoding lines are one list.
 *
 * - No header, or an empty one: identity (as nginx, Caddy and Traefik do; RFC 9110 would allow
 *   any coding then, but clients that send nothing rarely decode anything).
 * - A coding's weight is its own entry's q, else `*`'s, else 0; `q=0` refuses it.
 * - The client may prefer the body as it is, by saying so: a coding is chosen only when its
 *   weight is at least that of an explicit `identity` (or `*`) entry (`gzip;q=0.5, identity`
 *   gets identity, `gzip, identity` gets gzip). Identity left unsaid is acceptable, not
 *   preferred: `gzip;q=0.8` alone gets gzip.
 * - Between br and gzip at the same weight, br: at the levels chosen
 *   (response-compression.ts) it costs gzip's CPU for a body a little smaller, and clients
 *   that send br are recent ones. A higher weight for gzip wins.
 * - `x-gzip` is gzip (RFC 9110 §8.4.1.3); the answer then says `gzip`.
 */
export function negotiateEncoding(rawHeaders: readonly string[]): Coding | undefined {
  let value: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.length !== 15 || name.toLowerCase() !== 'accept-encoding') continue;
    const line = rawHeaders[i + 1] as string;
    value = value === undefined ? line : `${value},${line}`;
  }
  if (value === undefined) return undefined;
  let br: number | undefined;
  let gzip: number | undefined;
  let identity: number | undefined;
  let star: number | undefined;
  for (const entry of value.split(',')) {
    const semi = entry.indexOf(';');
    const coding = (semi === -1 ? entry : entry.slice(0, semi)).trim().toLowerCase();
    if (coding === '') continue;
    const q = semi === -1 ? 1 : weight(entry.slice(semi + 1));
    if (q === undefined) continue; // a malformed weight: the entry is ignored, not guessed at
    // Repeated codings: the highest weight wins, as most servers read them.
    if (coding === 'br') br = Math.max(br ?? 0, q);
    else if (coding === 'gzip' || coding === 'x-gzip') gzip = Math.max(gzip ?? 0, q);
    else if (coding === 'identity') identity = Math.max(identity ?? 0, q);
    else if (coding === '*') star = Math.max(star ?? 0, q);
  }
  const brQ = br ?? star ?? 0;
  const gzipQ = gzip ?? star ?? 0;
  const identityQ = identity ?? star ?? 0;
  const best: Coding = brQ >= gzipQ ? 'br' : 'gzip';
  const bestQ = best === 'br' ? brQ : gzipQ;
  return bestQ > 0 && bestQ >= identityQ ? best : undefined;
}

const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/** The q of `;q=0.8` (parameters after the coding), 1 without one, undefined when malformed. */
function weight(params: string): number | undefined {
  let q = 1;
  for (const param of params.split(';')) {
    const eq = param.indexOf('=');
    if (eq === -1) continue;
    if (param.slice(0, eq).trim().toLowerCase() !== 'q') continue;
    const text = param.slice(eq + 1).trim();
    if (!QVALUE.test(text)) return undefined;
    q = Number(text);
  }
  return q;
}
