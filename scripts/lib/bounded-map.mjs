// Bounded concurrency for the harnesses' many small HTTP calls. Node builtins only.

/** `fn` over `items`, at most `limit` at a time, results in order. */
export async function mapBounded(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i], i);
      }
    }),
  );
  return results;
}
