// A portal visitor for route tests: opens a magic link and then carries the session cookie and CSRF token like a browser.
import { exports } from "cloudflare:workers";
import { api, fetchWorker, WEBHOOKS } from "./api";

export interface PortalPage {
  status: number;
  headers: Headers;
  html: string;
}

export async function issueLink(token: string, body: Record<string, unknown> = {}): Promise<string> {
  const res = await api("POST", `${WEBHOOKS}/portal-sessions`, { token, body });
  if (res.status !== 201) throw new Error(`portal-sessions failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.url as string;
}

export class PortalVisitor {
  cookie = "";

  /** `fetcher`: the app the visitor talks to (the Worker under test by default; a test may pass another createApp). */
  constructor(private readonly fetcher: (request: Request) => Promise<Response> = (r) => exports.default.fetch(r)) {}

  async open(
    url: string,
    init: {
      method?: string;
      form?: Record<string, string | string[]>;
      headers?: Record<string, string>;
      bindings?: Partial<Env>;
    } = {},
  ): Promise<PortalPage> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.cookie) headers.cookie = this.cookie;
    let body: string | undefined;
    if (init.form) {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(init.form))
        for (const one of Array.isArray(v) ? v : [v]) params.append(k, one);
      body = params.toString();
      headers["content-type"] = "application/x-www-form-urlencoded";
    }
    const target = url.startsWith("http") ? url : `https://webhooks.test${url}`;
    const request = new Request(target, {
      method: init.method ?? (init.form ? "POST" : "GET"),
      headers,
      body,
      redirect: "manual",
    });
    const res = init.bindings ? await fetchWorker(request, init.bindings) : await this.fetcher(request);
    const setCookie = res.headers.get("set-cookie");
    if (setCookie) this.cookie = setCookie.split(";")[0]!;
    return { status: res.status, headers: res.headers, html: await res.text() };
  }

  /** Follows a 303 (POST → redirect → GET) like a browser; any other answer is returned as it is. */
  async follow(page: PortalPage | Promise<PortalPage>): Promise<PortalPage> {
    const res = await page;
    if (res.status !== 303) return res;
    return this.open(res.headers.get("location")!);
  }

  /** The CSRF token of the current session, read from any page's hidden field. */
  async csrf(): Promise<string> {
    const page = await this.open("/portal/events");
    const m = /name="_csrf" value="([^"]+)"/.exec(page.html);
    if (!m) throw new Error(`no CSRF token on the page (status ${page.status})`);
    return m[1]!;
  }

  static async signIn(
    token: string,
    body: Record<string, unknown> = {},
    fetcher?: (request: Request) => Promise<Response>,
  ): Promise<PortalVisitor> {
    const visitor = new PortalVisitor(fetcher);
    const res = await visitor.open(await issueLink(token, body));
    if (res.status !== 200 || !visitor.cookie) throw new Error(`sign-in failed: ${res.status}`);
    return visitor;
  }
}

/** The text a page shows, tags dropped and entities decoded as a browser would, whitespace collapsed. */
export const textOf = (html: string) =>
  html
    .replace(/<[^>]+>/g, " ")
    .replaceAll("&#39;", "'")
    .replaceAll("&quot;", '"')
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&amp;", "&")
    .replace(/\s+/g, " ");
