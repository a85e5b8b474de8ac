// The SSRF guard: every hostile spelling of a non-public target is refused with its reason; public targets pass.
import { describe, expect, it } from "vitest";
import { addressRange, type TargetPolicy, targetUrlProblem } from "../../src/domain/target-url";

const STRICT: TargetPolicy = { allowInsecure: false, allowPrivate: false };
// http:// allowed, so the http spellings below reach the host check and report their real reason.
const INSECURE: TargetPolicy = { allowInsecure: true, allowPrivate: false };
const DEV: TargetPolicy = { allowInsecure: true, allowPrivate: true };

const notPublic = (host: string, range: string) => `URL host ${host} is not a public address (${range})`;
const SCHEME = "URL scheme must be http or https";
const CREDENTIALS = "URL must not contain credentials";

// [url, reason under INSECURE]. Hosts in reasons are as WHATWG URL (and so fetch) normalises them.
const HOSTILE: [string, string][] = [
  // schemes and URL structure
  ["ftp://example.com/", SCHEME],
  ["file:///etc/passwd", SCHEME],
  ["gopher://example.com:70/_GET", SCHEME],
  ["javascript:alert(1)", SCHEME],
  ["data:text/plain,hello", SCHEME],
  ["ws://example.com/socket", SCHEME],
  ["https://user:pass@example.com/", CREDENTIALS],
  ["https://user@example.com/", CREDENTIALS],
  ["https://:secret@example.com/", CREDENTIALS],
  ["https://example.com/hook#fragment", "URL must not contain a fragment"],
  ["//example.com/hook", "Invalid URL"],
  ["https://exa\nmple.com/", "URL must not contain whitespace or control characters"],
  ["https://example.com/\thook", "URL must not contain whitespace or control characters"],
  [` https://example.com/`, "URL must not contain whitespace or control characters"],
  [`https://example.com/${"a".repeat(2100)}`, "URL must be at most 2048 characters"],
  // IPv4 loopback, in every spelling WHATWG URL accepts
  ["http://127.0.0.1/", notPublic("127.0.0.1", "loopback")],
  ["http://127.255.255.254:8080/", notPublic("127.255.255.254", "loopback")],
  ["http://2130706433/", notPublic("127.0.0.1", "loopback")],
  ["http://0x7f.1/", notPublic("127.0.0.1", "loopback")],
  ["http://0177.0.0.1/", notPublic("127.0.0.1", "loopback")],
  ["http://127.1/", notPublic("127.0.0.1", "loopback")],
  ["http://0x7f000001/", notPublic("127.0.0.1", "loopback")],
  ["http://017700000001/", notPublic("127.0.0.1", "loopback")],
  ["http://0x7F.0x0.0x0.0x1/", notPublic("127.0.0.1", "loopback")],
  ["https://１２７.０.０.１/", notPublic("127.0.0.1", "loopback")],
  ["https://%31%32%37.0.0.1/", notPublic("127.0.0.1", "loopback")],
  ["https://127.0.0.1./", notPublic("127.0.0.1", "loopback")],
  // other IPv4 special-purpose ranges
  ["http://0.0.0.0/", notPublic("0.0.0.0", '"this network"')],
  ["http://0/", notPublic("0.0.0.0", '"this network"')],
  ["http://10.0.0.1/", notPublic("10.0.0.1", "private")],
  ["http://172.16.0.1/", notPublic("172.16.0.1", "private")],
  ["http://172.31.255.255/", notPublic("172.31.255.255", "private")],
  ["http://192.168.1.1:8443/", notPublic("192.168.1.1", "private")],
  ["http://169.254.169.254/latest/meta-data/", notPublic("169.254.169.254", "link-local (cloud metadata)")],
  ["http://0251.0376.0251.0376/", notPublic("169.254.169.254", "link-local (cloud metadata)")],
  ["http://2852039166/", notPublic("169.254.169.254", "link-local (cloud metadata)")],
  ["http://169.254.0.1/", notPublic("169.254.0.1", "link-local")],
  ["http://100.64.0.1/", notPublic("100.64.0.1", "shared (CGNAT)")],
  ["http://100.100.100.200/", notPublic("100.100.100.200", "shared (CGNAT)")],
  ["http://224.0.0.1/", notPublic("224.0.0.1", "multicast")],
  ["http://239.255.255.250/", notPublic("239.255.255.250", "multicast")],
  ["http://240.0.0.1/", notPublic("240.0.0.1", "reserved")],
  ["http://255.255.255.255/", notPublic("255.255.255.255", "broadcast")],
  ["http://198.18.0.1/", notPublic("198.18.0.1", "benchmarking")],
  ["http://198.19.255.1/", notPublic("198.19.255.1", "benchmarking")],
  ["http://192.0.2.1/", notPublic("192.0.2.1", "documentation")],
  ["http://198.51.100.7/", notPublic("198.51.100.7", "documentation")],
  ["http://203.0.113.9/", notPublic("203.0.113.9", "documentation")],
  ["http://192.0.0.8/", notPublic("192.0.0.8", "IETF protocol assignment")],
  ["http://192.88.99.1/", notPublic("192.88.99.1", "6to4 relay anycast")],
  // IPv6
  ["https://[::1]/", notPublic("[::1]", "loopback")],
  ["https://[0:0:0:0:0:0:0:1]:8443/", notPublic("[::1]", "loopback")],
  ["https://[::]/", notPublic("[::]", "unspecified")],
  ["https://[::ffff:127.0.0.1]/", notPublic("[::ffff:7f00:1]", "IPv4-mapped")],
  ["https://[::ffff:7f00:1]/", notPublic("[::ffff:7f00:1]", "IPv4-mapped")],
  ["https://[0:0:0:0:0:ffff:169.254.169.254]/", notPublic("[::ffff:a9fe:a9fe]", "IPv4-mapped")],
  ["https://[::ffff:8.8.8.8]/", notPublic("[::ffff:808:808]", "IPv4-mapped")],
  ["https://[::127.0.0.1]/", notPublic("[::7f00:1]", "IPv4-compatible")],
  ["https://[::ffff:0:127.0.0.1]/", notPublic("[::ffff:0:7f00:1]", "IPv4-translated")],
  ["https://[64:ff9b::127.0.0.1]/", notPublic("[64:ff9b::7f00:1]", "NAT64")],
  ["https://[64:ff9b::8.8.8.8]/", notPublic("[64:ff9b::808:808]", "NAT64")],
  ["https://[64:ff9b:1::a00:1]/", notPublic("[64:ff9b:1::a00:1]", "NAT64 (local-use)")],
  ["https://[2002:7f00:1::]/", notPublic("[2002:7f00:1::]", "6to4 wrapping loopback IPv4")],
  ["https://[2002:a9fe:a9fe::1]/", notPublic("[2002:a9fe:a9fe::1]", "6to4 wrapping link-local (cloud metadata) IPv4")],
  ["https://[2002:c0a8:101::1]/", notPublic("[2002:c0a8:101::1]", "6to4 wrapping private IPv4")],
  ["https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", notPublic("[2001:0:4136:e378:8000:63bf:3fff:fdd2]", "Teredo")],
  ["https://[2001:2::1]/", notPublic("[2001:2::1]", "benchmarking")],
  ["https://[2001:10::1]/", notPublic("[2001:10::1]", "IETF protocol assignment")],
  ["https://[2001:db8::1]/", notPublic("[2001:db8::1]", "documentation")],
  ["https://[3fff::1]/", notPublic("[3fff::1]", "documentation")],
  ["https://[100::1]/", notPublic("[100::1]", "discard-only")],
  ["https://[fc00::1]/", notPublic("[fc00::1]", "unique-local")],
  ["https://[fd00:ec2::254]/", notPublic("[fd00:ec2::254]", "unique-local")],
  ["https://[fe80::1]/", notPublic("[fe80::1]", "link-local")],
  ["https://[febf:ffff::1]/", notPublic("[febf:ffff::1]", "link-local")],
  ["https://[fec0::1]/", notPublic("[fec0::1]", "site-local")],
  ["https://[ff02::1]/", notPublic("[ff02::1]", "multicast")],
  ["https://[4000::1]/", notPublic("[4000::1]", "reserved")],
  ["https://[fe80::1%25eth0]/", "Invalid URL"],
  // names
  ["http://localhost/", "URL host localhost is this machine (localhost)"],
  ["http://LOCALHOST:8080/", "URL host localhost is this machine (localhost)"],
  ["https://api.localhost/", "URL host api.localhost is this machine (localhost)"],
  ["https://localhost./", "URL host must not end with a dot"],
  ["https://example.com./hook", "URL host must not end with a dot"],
  ["https://printer.local/", "URL host printer.local is in the internal-only domain .local"],
  ["https://vault.service.internal/", "URL host vault.service.internal is in the internal-only domain .internal"],
  [
    "https://instance-data.ec2.internal/",
    "URL host instance-data.ec2.internal is in the internal-only domain .internal",
  ],
  ["https://box.localdomain/", "URL host box.localdomain is in the internal-only domain .localdomain"],
  ["https://nas.home.arpa/", "URL host nas.home.arpa is in the internal-only domain .home.arpa"],
  ["https://router.lan/", "URL host router.lan is in the internal-only domain .lan"],
  [
    "https://metadata.google.internal/computeMetadata/v1/",
    "URL host metadata.google.internal is a cloud metadata service",
  ],
  ["https://METADATA.google.internal./", "URL host must not end with a dot"],
  ["https://metadata/", "URL host metadata is a cloud metadata service"],
  ["https://instance-data/latest/", "URL host instance-data is a cloud metadata service"],
  ["https://metadata.tencentyun.com/latest/meta-data/", "URL host metadata.tencentyun.com is a cloud metadata service"],
  ["https://intranet/", "URL host intranet is in the internal-only domain .intranet"],
  ["https://receiver/", "URL host receiver is a single-label name (use a fully qualified domain name)"],
  ["https://a..example.com/", "URL host has an empty label"],
];

describe("targetUrlProblem refuses hostile targets", () => {
  it(`covers at least 40 hostile URLs (has ${HOSTILE.length})`, () => {
    expect(HOSTILE.length).toBeGreaterThanOrEqual(40);
    expect(new Set(HOSTILE.map(([url]) => url)).size).toBe(HOSTILE.length);
  });

  it.each(HOSTILE)("%s → %s", (url, reason) => {
    expect(targetUrlProblem(url, INSECURE)).toBe(reason);
  });

  it.each(HOSTILE)("%s is refused under the production policy too", (url) => {
    expect(targetUrlProblem(url, STRICT)).not.toBeNull();
  });
});

describe("targetUrlProblem accepts public targets", () => {
  it.each([
    "https://example.com/webhooks/scaikey",
    "https://EXAMPLE.com/Path?x=1&y=2",
    "https://hooks.example.com:443/path",
    "https://a.b.c.d.example.co.uk/deep/path",
    "https://8.8.8.8/hook",
    "https://1.1.1.1:443/",
    "https://11.0.0.1/",
    "https://172.32.0.1/", // just past 172.16.0.0/12
    "https://100.128.0.1/", // just past 100.64.0.0/10
    "https://169.253.255.255/",
    "https://192.169.0.1/",
    "https://223.255.255.254/",
    "https://[2606:4700:4700::1111]/hook",
    "https://[2001:4860:4860::8888]/",
    "https://[2002:808:808::1]/", // 6to4 wrapping a public IPv4
    "https://[2001:200::1]/", // first address past the IETF /23
    "https://bücher.de/hook", // IDN, normalised to punycode
    "https://xn--bcher-kva.de/",
    "https://例え.jp/フック",
    "https://localhost.example.com/", // the name, not the suffix
    "https://internal.example.com/",
    "https://my-service.local.example.org/",
    "https://metadata.example.com/",
    "https://example.com/a%20b?q=%0d%0a", // encoded octets in path and query are the receiver's business
  ])("%s", (url) => {
    expect(targetUrlProblem(url, STRICT)).toBeNull();
  });

  it.each([
    "https://hooks.example.com:8443/path",
    "https://example.com:65535/",
    "https://1.1.1.1:4443/",
    "https://[2001:4860:4860::8888]:8443/",
  ])("%s only with its port on the allow-list", (url) => {
    const port = Number(new URL(url).port);
    expect(targetUrlProblem(url, STRICT)).toBe(`URL port ${port} is not allowed (allowed: 443)`);
    expect(targetUrlProblem(url, { ...STRICT, allowedPorts: [port] })).toBeNull();
  });
});

describe("policy switches", () => {
  it("requires https unless allowInsecure", () => {
    expect(targetUrlProblem("http://example.com/", STRICT)).toBe("URL must use https");
    expect(targetUrlProblem("http://example.com/", INSECURE)).toBeNull();
    expect(targetUrlProblem("http://127.0.0.1/", { allowInsecure: false, allowPrivate: true })).toBe(
      "URL must use https",
    );
  });

  it.each([
    "http://127.0.0.1:8787/hook",
    "http://127.0.0.2/",
    "http://2130706433/",
    "http://localhost:3000/",
    "http://api.localhost/",
    "http://[::1]:9000/",
  ])("allowPrivate admits loopback: %s", (url) => {
    expect(targetUrlProblem(url, DEV)).toBeNull();
    expect(targetUrlProblem(url, INSECURE)).not.toBeNull();
  });

  it.each([
    "http://10.0.0.1/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.100.100.200/",
    "http://0.0.0.0/",
    "https://[::ffff:127.0.0.1]/",
    "https://[64:ff9b::7f00:1]/",
    "https://[fd00::1]/",
    "https://[fe80::1]/",
    "https://metadata.google.internal/",
    "https://metadata/",
    "https://printer.local/",
    "https://receiver/",
  ])("allowPrivate still refuses anything but loopback: %s", (url) => {
    expect(targetUrlProblem(url, DEV)).not.toBeNull();
  });
});

// Parsing is ipaddr.js's; these check that our ranges hold whatever text form an address comes in (DNS answers are
// not normalised by the URL parser), and that anything else is not taken for an address.
describe("addressRange", () => {
  it("gives every text form of one address the same range", () => {
    const forms = [
      "::ffff:127.0.0.1",
      "::ffff:7f00:1",
      "0:0:0:0:0:ffff:7f00:0001",
      "0000:0000:0000:0000:0000:FFFF:127.0.0.1",
    ];
    expect(forms.map(addressRange)).toEqual(forms.map(() => "IPv4-mapped"));
  });

  it.each([
    "",
    ":",
    ":::",
    "1::2::3",
    "1:2:3:4:5:6:7:8:9",
    "12345::",
    "g::1",
    "::1.2.3",
    "::256.0.0.1",
    "1:2:3:4:5:6:7",
    "fe80::1%eth0",
    "127.1",
    "0x7f.0.0.1",
    "2130706433",
    "256.0.0.1",
    "example.com",
  ])("refuses %j as not an IP address", (text) => {
    expect(addressRange(text)).toBe("not an IP address");
  });

  it("treats only global unicast (2000::/3) outside the special ranges as public", () => {
    expect(addressRange("2606:4700::1")).toBeNull();
    expect(addressRange("1fff:ffff::1")).toBe("reserved");
    expect(addressRange("4000::")).toBe("reserved");
  });
});
