// The send-slot scheduler on its own: which send gets a free slot, and when a run gives up on its unstarted sends.
import { describe, expect, it } from "vitest";
import { runInSlots } from "../../../src/domain/delivery/send-slots";

/** Items `<webhook><n>` whose sends end only when the test says so. */
function controlledSends() {
  const started: string[] = [];
  const finishers = new Map<string, () => void>();
  return {
    started,
    send: (item: string) =>
      new Promise<void>((resolve) => {
        started.push(item);
        finishers.set(item, resolve);
      }),
    finish: async (item: string) => {
      finishers.get(item)!();
      await new Promise((r) => setTimeout(r, 0)); // let the run hand the slot on
    },
  };
}
const webhookOf = (item: string) => item[0]!;

describe("send slots", () => {
  it("give a free slot to the webhook with the fewest sends in flight, in batch order among equals", async () => {
    const sends = controlledSends();
    // Webhook h hangs: its sends come first in the batch, yet it gets no more than its share while others wait.
    const items = ["h1", "h2", "h3", "h4", "a1", "a2", "b1", "b2", "a3"];
    const run = runInSlots(items, { slots: 4, keyOf: webhookOf, send: sends.send, patienceMs: null });
    expect(sends.started).toEqual(["h1", "a1", "b1", "h2"]);
    await sends.finish("a1");
    expect(sends.started.at(-1)).toBe("a2"); // a has none in flight, h has two
    await sends.finish("b1");
    expect(sends.started.at(-1)).toBe("b2");
    await sends.finish("a2");
    expect(sends.started.at(-1)).toBe("a3");
    await sends.finish("b2");
    expect(sends.started.at(-1)).toBe("h3"); // nobody else waits: h takes the free slot
    await sends.finish("a3");
    expect(sends.started.at(-1)).toBe("h4");
    expect(await run.allStarted).toEqual({ unstarted: [], stuck: [] });
    for (const item of ["h1", "h2", "h3", "h4"]) await sends.finish(item);
    await run.allFinished;
  });

  it("give up on the unstarted sends once every slot has held its send for the patience, and still finish the rest", async () => {
    const sends = controlledSends();
    const run = runInSlots(["h1", "h2", "h3", "a1"], {
      slots: 2,
      keyOf: webhookOf,
      send: sends.send,
      patienceMs: 0,
    });
    const { unstarted, stuck } = await run.allStarted;
    expect(stuck).toEqual(["h1", "a1"]);
    expect(unstarted).toEqual(["h2", "h3"]);
    await sends.finish("a1");
    expect(sends.started).toEqual(["h1", "a1"]); // nothing more starts once given up
    await sends.finish("h1");
    await run.allFinished;
  });

  it("never give up without a patience, and finish at once with nothing to send", async () => {
    const sends = controlledSends();
    const run = runInSlots(["h1", "h2"], { slots: 1, keyOf: webhookOf, send: sends.send, patienceMs: null });
    await sends.finish("h1");
    await sends.finish("h2");
    expect(await run.allStarted).toEqual({ unstarted: [], stuck: [] });
    await run.allFinished;
    const empty = runInSlots([], { slots: 6, keyOf: webhookOf, send: sends.send, patienceMs: 0 });
    await Promise.all([empty.allStarted, empty.allFinished]);
  });

  it("do not count a slot's pause (a rate limit's wait) toward the patience, but count the send after it", async () => {
    const sends = controlledSends();
    let endPause!: () => void;
    const paused = new Promise<void>((resolve) => (endPause = resolve));
    // r1 waits for its start in its slot, a1 is sent: not every slot holds a send under way, so nobody is given up.
    const run = runInSlots(["r1", "a1", "b1"], {
      slots: 2,
      keyOf: webhookOf,
      send: (item, pause) => (item === "r1" ? pause(paused).then(() => sends.send(item)) : sends.send(item)),
      patienceMs: 0,
    });
    let settled = false;
    void run.allStarted.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(settled).toBe(false);
    // Its start has come and it is sent: now both slots hold sends under way, and b1 is given up.
    endPause();
    expect(await run.allStarted).toEqual({ unstarted: ["b1"], stuck: ["r1", "a1"] });
    await sends.finish("a1");
    await sends.finish("r1");
    await run.allFinished;
  });
});
