// A DNS-over-HTTPS resolver stub on 127.0.0.1 (JSON API, `application/dns-json`, as cloudflare-dns.com and dns.google
// answer it), started by the global setup so the Worker under test resolves target hosts over real HTTP.
// Answers are made up from the name, so tests can ask for any situation:
//   <a>.<b>.<c>.<d>.nip.io, *.<a>.<b>.<c>.<d>.nip.io  A a.b.c.d (as the real nip.io does)
//   localtest.me, *.localtest.me                       A 127.0.0.1 (as the real one does)
//   v6-loopback.dns.example.net                        AAAA ::1 only
//   mixed.dns.example.net                              A public, AAAA fd00::1 (one private answer among public ones)
//   cname.dns.example.net                              CNAME to 10.1.2.3.nip.io, A 10.1.2.3
//   *.nx.example.net                                   NXDOMAIN
//   *.servfail.example.net                             SERVFAIL
//   ttl-<n>.<anything>                                 public answers with TTL n seconds
//   anything else                                      A 93.184.215.14, AAAA 2606:2800:21f:cb07:6820:80da:af6b:8b2c, TTL 300
// GET /dns-stats?name=<name> answers {"queries": n}: how many queries (any type) asked for that name.

const PUBLIC_V4 = "93.184.215.14";
const PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c";
const A = 1;
const CNAME = 5;
const AAAA = 28;

interface Answer {
  name: string;
  type: number;
  TTL: number;
  data: string;
}

function answerFor(rawName: string, type: number): { Status: number; Answer: Answer[] } {
  const name = rawName.toLowerCase().replace(/\.$/, "");
  const ttlMatch = /^ttl-(\d+)\./.exec(name);
  const ttl = ttlMatch ? Number(ttlMatch[1]) : 300;
  const record = (t: number, data: string, owner = name): Answer => ({ name: owner, type: t, TTL: ttl, data });
  const only = (t: number, data: string) => ({ Status: 0, Answer: type === t ? [record(t, data)] : [] });

  if (name.endsWith(".nx.example.net")) return { Status: 3, Answer: [] };
  if (name.endsWith(".servfail.example.net")) return { Status: 2, Answer: [] };
  const nip = /(?:^|\.)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})\.nip\.io$/.exec(name);
  if (nip) return only(A, nip[1]!);
  if (name === "localtest.me" || name.endsWith(".localtest.me")) return only(A, "127.0.0.1");
  if (name === "v6-loopback.dns.example.net") return only(AAAA, "::1");
  if (name === "mixed.dns.example.net")
    return { Status: 0, Answer: [type === A ? record(A, PUBLIC_V4) : record(AAAA, "fd00::1")] };
  if (name === "cname.dns.example.net")
    return {
      Status: 0,
      Answer: type === A ? [record(CNAME, "10.1.2.3.nip.io."), record(A, "10.1.2.3", "10.1.2.3.nip.io")] : [],
    };
  return { Status: 0, Answer: [type === A ? record(A, PUBLIC_V4) : record(AAAA, PUBLIC_V6)] };
}

interface HttpServer {
  listen(port: number, host: string, callback: () => void): void;
  address(): { port: number } | string | null;
  close(callback: () => void): void;
  closeAllConnections?(): void;
}
interface IncomingMessage {
  url?: string;
  headers: Record<string, string | string[] | undefined>;
}
interface ServerResponse {
  writeHead(status: number, headers: Record<string, string>): void;
  end(body: string): void;
}
interface Http {
  createServer(listener: (req: IncomingMessage, res: ServerResponse) => void): HttpServer;
}

/** Starts the stub; returns its query URL and a stop function. */
export async function startDohStub(): Promise<{ url: string; stop: () => Promise<void> }> {
  const http = process.getBuiltinModule("node:http") as Http;
  const queries = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://stub");
    const json = (status: number, body: unknown, type = "application/json") => {
      res.writeHead(status, { "content-type": type });
      res.end(JSON.stringify(body));
    };
    const name = url.searchParams.get("name") ?? "";
    if (url.pathname === "/dns-stats") return json(200, { queries: queries.get(name.toLowerCase()) ?? 0 });
    if (url.pathname !== "/dns-query") return json(404, { error: "not found" });
    const typeParam = url.searchParams.get("type") ?? "A";
    const type = typeParam === "AAAA" || typeParam === "28" ? AAAA : typeParam === "A" || typeParam === "1" ? A : null;
    if (!name || type === null) return json(400, { error: "name and type (A or AAAA) are required" });
    queries.set(name.toLowerCase(), (queries.get(name.toLowerCase()) ?? 0) + 1);
    const { Status, Answer } = answerFor(name, type);
    json(
      200,
      { Status, TC: false, RD: true, RA: true, AD: false, CD: false, Question: [{ name, type }], Answer },
      "application/dns-json",
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("DoH stub has no port");
  return {
    url: `http://127.0.0.1:${address.port}/dns-query`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
