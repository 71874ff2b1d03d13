/**
 * The text of each entry of the top-level `sites:` block sequence, and the rest of the file.
 *
 * Why: a reload of a 10,000-site file re-parsed 2 MB of YAML (~250 ms of js-yaml on the event
 * loop, and ~20 MB of garbage) to change one route. Split at entry boundaries, an unchanged
 * entry is the same text as last time, and its parsed value can be reused; only changed
 * entries and the rest of the file (small) are parsed again.
 *
 * Only the plain layout is split: `sites:` at column 0 with nothing after it, then entries
 * `- ` at one indentation, ending at the next line at column 0. Anything else returns
 * undefined and the caller parses the whole text. Splitting never decides validity: every
 * piece is parsed by the same YAML parser, and a construct that crosses an entry boundary
 * (an alias to another entry, an unterminated quote or bracket) fails to parse on its own
 * and sends the caller to the whole-text parse. See parse.ts for the checks on the pieces.
 */
export interface SiteBlocks {
  /** The file with every entry removed: `sites:` is left with no value (null). */
  readonly skeleton: string;
  /** The entries' text, each from its `- ` line to the next entry (comments included). */
  readonly entries: readonly string[];
}

const SPACE = 32;
const HASH = 35;
const DASH = 45;
const SITES_LINE = /^sites:[ ]*(?:#.*)?$/m;

export function splitSiteBlocks(text: string): SiteBlocks | undefined {
  // Tabs and CRs are legal in places, but rare enough that the whole parse can take them.
  if (text.includes('\t') || text.includes('\r')) return undefined;
  const header = SITES_LINE.exec(text);
  if (header === null) return undefined;
  const headerEnd = header.index + header[0].length;
  if (text.charCodeAt(headerEnd) !== 10) return undefined;

  const entries: string[] = [];
  let indent = -1;
  let entryStart = -1;
  let pos = headerEnd + 1;
  let blockEnd = text.length;
  while (pos < text.length) {
    let eol = text.indexOf('\n', pos);
    if (eol === -1) eol = text.length;
    let first = pos;
    while (first < eol && text.charCodeAt(first) === SPACE) first++;
    if (first < eol && text.charCodeAt(first) !== HASH) {
      const column = first - pos;
      const after = text.charCodeAt(first + 1);
      const isEntry = text.charCodeAt(first) === DASH && (first + 1 === eol || after === SPACE);
      if (indent === -1) {
        if (!isEntry) return undefined;
        indent = column;
      }
      if (isEntry && column === indent) {
        if (entryStart !== -1) entries.push(text.slice(entryStart, pos));
        entryStart = pos;
      } else if (column === 0) {
        blockEnd = pos;
        break;
      } else if (column <= indent) {
        // Not an entry, not deeper than one, not the next top-level key: not the plain layout.
        return undefined;
      }
    }
    pos = eol + 1;
  }
  if (entryStart === -1) return undefined;
  entries.push(text.slice(entryStart, blockEnd));
  const skeleton = `${text.slice(0, headerEnd)}\n${text.slice(blockEnd)}`;
  return { skeleton, entries };
}
