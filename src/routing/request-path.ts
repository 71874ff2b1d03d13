/**
 * The one normalisation of a request path, applied before matching and to what is sent
 * upstream, so that the route that matched and the upstream see the same path:
 *
 * - percent-escapes of unreserved characters (RFC 3986 §2.3: letters, digits, `-._~`) are
 *   decoded: `/%61dmin/` is `/admin/`;
 * - runs of `/` are merged: `//admin/x` is `/admin/x`;
 * - refused (undefined, answered 400): an encoded `/` or `\` (`%2F`, `%5C`), an encoded control
 *   byte (`%00`-`%1F`, `%7F`), a malformed escape, a raw `\`, and a `.` or `..` segment, raw or
 *   encoded (`/public/%2e%2e/admin`). Resolving them instead would let an upstream that
 *   decodes differently see a path outside the route that matched.
 *
 * Every other escape is kept as the client wrote it. The query string is not touched (the
 * caller splits it off first).
 */
export function normalizePath(path: string): string | undefined {
  if (
    path.indexOf('%') === -1 &&
    path.indexOf('\\') === -1 &&
    path.indexOf('//') === -1 &&
    path.indexOf('/.') === -1
  ) {
    return path;
  }
  let out = '';
  for (let i = 0; i < path.length; i++) {
    let piece = path[i] as string;
    if (piece === '\\') return undefined;
    if (piece === '%') {
      const byte = hexByte(path, i + 1);
      if (byte === undefined || byte < 0x20 || byte === 0x7f || byte === 0x2f || byte === 0x5c) {
        return undefined;
      }
      piece = isUnreserved(byte) ? String.fromCharCode(byte) : path.slice(i, i + 3);
      i += 2;
    }
    if (piece === '/' && out.charCodeAt(out.length - 1) === 47 /* / */) continue;
    out += piece;
  }
  return DOT_SEGMENT.test(out) ? undefined : out;
}

const DOT_SEGMENT = /(?:^|\/)\.{1,2}(?:\/|$)/;

function hexByte(text: string, at: number): number | undefined {
  const pair = text.slice(at, at + 2);
  return /^[0-9A-Fa-f]{2}$/.test(pair) ? Number.parseInt(pair, 16) : undefined;
}

function isUnreserved(byte: number): boolean {
  return (
    (byte >= 0x41 && byte <= 0x5a) || // A-Z
    (byte >= 0x61 && byte <= 0x7a) || // a-z
    (byte >= 0x30 && byte <= 0x39) || // 0-9
    byte === 0x2d || // -
    byte === 0x2e || // .
    byte === 0x5f || // _
    byte === 0x7e // ~
  );
}
