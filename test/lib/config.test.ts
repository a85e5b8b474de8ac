// PUBLIC_ORIGIN: the origin the trailing-slash redirects point at (path-edges.ts), read once from the bindings.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { readConfig } from "../../src/lib/config";

const withOrigin = (value: string) => readConfig({ ...env, PUBLIC_ORIGIN: value });

describe("PUBLIC_ORIGIN", () => {
  it.each([
    ["https://webhooks.example.com", "https://webhooks.example.com"],
    ["https://webhooks.example.com/", "https://webhooks.example.com"],
    ["http://localhost:8787", "http://localhost:8787"],
  ])("%s is the origin %s", (value, origin) => {
    expect(withOrigin(value).publicOrigin).toBe(origin);
  });

  it("is null when unset: the redirects' Location is then the path alone", () => {
    expect(withOrigin("").publicOrigin).toBeNull();
  });

  it.each([
    "https://webhooks.example.com/api",
    "https://webhooks.example.com?x=1",
    "ftp://webhooks.example.com",
    "webhooks",
  ])("refuses %s, which is not an http(s) origin", (value) => {
    expect(() => withOrigin(value)).toThrow(/PUBLIC_ORIGIN must be/);
  });
});
