// Types of prng.mjs, for TypeScript callers.
export declare function mulberry32(seed: number): () => number;
