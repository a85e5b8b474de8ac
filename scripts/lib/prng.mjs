// The harnesses' seedable PRNG: the same seed gives the same event mix, receiver answers and injected faults.
// Plain ESM without imports, so it runs in Node and inside workerd alike.

/** mulberry32: a small, fast, seedable PRNG, uniform in [0, 1). */
export function mulberry32(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
