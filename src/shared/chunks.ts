/**
 * The one chunker: consecutive items in groups of at most `maxCount` items and, past the first item
 * of a group, at most `maxBytes` (an item larger than `maxBytes` travels alone). Used for consumer
 * batches, HEC requests and the embedded bus' fetches.
 */
export function chunks<T>(items: readonly T[], size: (item: T) => number, maxCount: number, maxBytes = Infinity): T[][] {
  const out: T[][] = [];
  for (let start = 0; start < items.length; ) {
    const count = fitting((i) => (start + i < items.length ? size(items[start + i]!) : undefined), maxCount, maxBytes);
    out.push(items.slice(start, start + count));
    start += count;
  }
  return out;
}

/** How many items from the first (`sizeAt(i)` undefined past the last) fit one chunk: at least one when there is one. */
export function fitting(sizeAt: (i: number) => number | undefined, maxCount: number, maxBytes = Infinity): number {
  let bytes = 0;
  let count = 0;
  for (; count < maxCount; count++) {
    const size = sizeAt(count);
    if (size === undefined || (count > 0 && bytes + size > maxBytes)) break;
    bytes += size;
  }
  return count;
}
