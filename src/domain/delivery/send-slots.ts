// How a batch's claimed attempts share its send slots (CONSUMER_CONCURRENCY connections). A free slot goes to the
// webhook with the fewest sends in flight (batch order among equals), so a webhook whose receiver hangs holds no more
// than its share while other webhooks' sends wait, and takes any slot nobody else wants.

export interface SlotOptions<T> {
  slots: number;
  /** The webhook an item is sent to: what shares are counted by. */
  keyOf: (item: T) => string;
  /**
   * Sends one item; must not reject (the caller reports its own failures). What it awaits through `pause` (a rate
   * limit's slot) is not the receiver's time: a slot pausing is not counted toward the patience.
   */
  send: (item: T, pause: <R>(waiting: Promise<R>) => Promise<R>) => Promise<void>;
  /**
   * Stop waiting for a slot once every slot has held its send this long: the items not yet started are given up
   * (returned, never sent). Null: wait for slots however long the sends take.
   */
  patienceMs: number | null;
}

export interface SlotRun<T> {
  /** Every item has started, or the run gave up on `unstarted` while `stuck` held every slot. */
  allStarted: Promise<{ unstarted: T[]; stuck: T[] }>;
  /** Every started send has finished. */
  allFinished: Promise<void>;
}

export function runInSlots<T>(items: readonly T[], opts: SlotOptions<T>): SlotRun<T> {
  const waiting = [...items];
  const inFlight = new Map<T, number | null>(); // item → when its send started (null while it pauses)
  const sharesOf = new Map<string, number>();
  let gaveUp = false;
  let patienceTimer: ReturnType<typeof setTimeout> | undefined;
  let resolveStarted!: (value: { unstarted: T[]; stuck: T[] }) => void;
  let resolveFinished!: () => void;
  const allStarted = new Promise<{ unstarted: T[]; stuck: T[] }>((resolve) => (resolveStarted = resolve));
  const allFinished = new Promise<void>((resolve) => (resolveFinished = resolve));

  const share = (item: T) => sharesOf.get(opts.keyOf(item)) ?? 0;
  const next = (): T => {
    let best = 0;
    for (let i = 1; i < waiting.length && share(waiting[best]!) > 0; i++)
      if (share(waiting[i]!) < share(waiting[best]!)) best = i;
    return waiting.splice(best, 1)[0]!;
  };
  const start = (item: T) => {
    const key = opts.keyOf(item);
    sharesOf.set(key, (sharesOf.get(key) ?? 0) + 1);
    inFlight.set(item, Date.now());
    const pause = async <R>(waiting: Promise<R>): Promise<R> => {
      inFlight.set(item, null);
      try {
        return await waiting;
      } finally {
        inFlight.set(item, Date.now());
        progress();
      }
    };
    void opts.send(item, pause).finally(() => {
      inFlight.delete(item);
      sharesOf.set(key, sharesOf.get(key)! - 1);
      progress();
    });
  };
  const giveUp = () => {
    gaveUp = true;
    resolveStarted({ unstarted: waiting.splice(0), stuck: [...inFlight.keys()] });
    progress();
  };
  const progress = () => {
    while (!gaveUp && waiting.length > 0 && inFlight.size < opts.slots) start(next());
    if (waiting.length === 0 && !gaveUp) resolveStarted({ unstarted: [], stuck: [] });
    if (inFlight.size === 0 && (waiting.length === 0 || gaveUp)) resolveFinished();
    if (patienceTimer !== undefined) clearTimeout(patienceTimer);
    patienceTimer = undefined;
    const held = [...inFlight.values()];
    if (
      opts.patienceMs !== null &&
      !gaveUp &&
      waiting.length > 0 &&
      held.length >= opts.slots &&
      !held.includes(null)
    ) {
      // Every slot is taken by a send under way: give up once the youngest has held its slot for the patience.
      const youngest = Math.max(...(held as number[]));
      patienceTimer = setTimeout(giveUp, Math.max(0, youngest + opts.patienceMs - Date.now()));
    }
  };
  progress();
  return { allStarted, allFinished };
}
