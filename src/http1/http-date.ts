let cached = '';
let cachedSecond = -1;

/** The IMF-fixdate for now, made at most once a second (every response carries one). */
export function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cached = new Date(now).toUTCString();
  }
  return cached;
}
