/** A wrong command line: the command prints it with a pointer to --help and exits 2. */
export class SidecarUsageError extends Error {}

export function integer(flag: string, text: string | undefined, min: number, max: number) {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    throw new SidecarUsageError(`${flag} must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** A decimal number from `min` to `max`, or undefined when the flag is absent. */
export function fraction(
  flag: string,
  value: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw new SidecarUsageError(`${flag} must be a number from ${min} to ${max}`);
  }
  return n;
}
