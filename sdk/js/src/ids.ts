/**
 * Message id helpers. Ids are 63-bit integers carried as decimal strings
 * (PROTOCOL.md section 2); JavaScript numbers would lose digits, so the
 * arithmetic is done with BigInt.
 */

/** The epoch of the id layout: 2024-01-01T00:00:00Z in Unix ms. */
export const ID_EPOCH_MS = 1704067200000n;

/** Compares two ids: negative, zero or positive. "" and "0" are zero. */
export function compareIds(a: string, b: string): number {
  a = norm(a);
  b = norm(b);
  // Canonical decimal strings (no leading zeros): longer is larger.
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

function norm(id: string): string {
  return id === "" ? "0" : id;
}

/** The larger of two ids. */
export function maxId(a: string, b: string): string {
  return compareIds(a, b) >= 0 ? a : b;
}

/** The Unix millisecond an id was made at: (id >> 22) + epoch. */
export function idTime(id: string): number {
  return Number((BigInt(norm(id)) >> 22n) + ID_EPOCH_MS);
}

/**
 * The `after` to sync from so that messages that became durable a little
 * after a higher id are not missed (section 9): max(0, highest - (ms << 22)).
 */
export function syncStart(highest: string, overlapMs = 60000): string {
  const a = BigInt(norm(highest)) - (BigInt(overlapMs) << 22n);
  return (a > 0n ? a : 0n).toString();
}

/**
 * Parses JSON keeping integers that JavaScript cannot hold exactly (more
 * than 15 digits) as strings. The REST API answers message ids as JSON
 * numbers (as Lanying does); JSON.parse would round them.
 */
export function parseJSONLossless(text: string): unknown {
  let out = "";
  let last = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
      continue;
    }
    if (c === 34) {
      inString = true;
      continue;
    }
    if (c === 45 /* - */ || (c >= 48 && c <= 57)) {
      let j = i + 1;
      while (j < text.length && /[0-9.eE+-]/.test(text[j]!)) j++;
      const num = text.slice(i, j);
      if (/^-?\d{16,}$/.test(num)) {
        out += text.slice(last, i) + '"' + num + '"';
        last = j;
      }
      i = j - 1;
    }
  }
  return JSON.parse(out + text.slice(last));
}
