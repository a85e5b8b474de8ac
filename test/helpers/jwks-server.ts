// Named JSON Web Key Sets the receiver (receiver-global-setup.ts) serves at /jwks/<name>, each one steered by its test
// over HTTP at /jwks-control/<name>: take it down, make it hang, close or answer garbage, publish other keys (a
// rotation), bring it back. Every request to /jwks/<name> is counted, so a test can see how often the Worker fetched.

/** up: 200 with the set; down: 503; hang: never answers; garbage: 200 with an HTML page; close: hangs up. */
export const JWKS_MODES = ["up", "down", "hang", "garbage", "close"] as const;
export type JwksMode = (typeof JWKS_MODES)[number];

/** The body of POST /jwks-control/<name>: what to change (anything left out stays). */
export interface JwksControl {
  mode?: JwksMode;
  /** The JSON served when up: normally `{ keys: [...] }`, anything else to serve a malformed set. */
  jwks?: unknown;
  /** Milliseconds before answering (in any mode). */
  delayMs?: number;
}

/** What GET or POST /jwks-control/<name> answers. */
export interface JwksState {
  mode: JwksMode;
  delayMs: number;
  /** Requests /jwks/<name> has received. */
  fetches: number;
}

export type JwksAnswer =
  | { kind: "reply"; status: string; contentType: string; body: string }
  | { kind: "hang" }
  | { kind: "close" };

export function createJwksSets() {
  const sets = new Map<string, JwksState & { jwks: unknown }>();
  const setFor = (name: string) => {
    let set = sets.get(name);
    if (!set) sets.set(name, (set = { mode: "up", jwks: { keys: [] }, delayMs: 0, fetches: 0 }));
    return set;
  };
  const stateOf = ({ mode, delayMs, fetches }: JwksState): JwksState => ({ mode, delayMs, fetches });

  return {
    /** A request to /jwks/<name>: counted, then answered per the set's mode after its delay. */
    fetch(name: string): { delayMs: number; answer: JwksAnswer } {
      const set = setFor(name);
      set.fetches++;
      const answer: JwksAnswer =
        set.mode === "up"
          ? { kind: "reply", status: "200 OK", contentType: "application/json", body: JSON.stringify(set.jwks) }
          : set.mode === "down"
            ? { kind: "reply", status: "503 Service Unavailable", contentType: "text/plain", body: "down" }
            : set.mode === "garbage"
              ? { kind: "reply", status: "200 OK", contentType: "text/html", body: "<html>502 Bad Gateway</html>" }
              : { kind: set.mode };
      return { delayMs: set.delayMs, answer };
    },
    /** GET /jwks-control/<name> (no body) or POST with a JwksControl. */
    control(name: string, body: string): JwksState {
      const set = setFor(name);
      if (body) {
        const change = JSON.parse(body) as JwksControl;
        if (change.mode !== undefined) {
          if (!JWKS_MODES.includes(change.mode)) throw new Error(`unknown JWKS mode ${change.mode}`);
          set.mode = change.mode;
        }
        if (change.jwks !== undefined) set.jwks = change.jwks;
        if (change.delayMs !== undefined) set.delayMs = change.delayMs;
      }
      return stateOf(set);
    },
  };
}
