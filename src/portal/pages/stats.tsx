// Stats of one endpoint over a window, as server-rendered charts.
import type { FC } from "hono/jsx";
import type { WebhookEndpointRow } from "../../db/schema";
import type { RecentHealth } from "../../domain/portal-queries";
import { STATS_WINDOW_NAMES } from "../../domain/stats/read-model";
import { AttemptsChart, LatencyChart } from "../charts";
import type { PortalView } from "../context";
import { duration, percent, webhookPath } from "../layout";
import type { EndpointStats } from "../stats";
import { EndpointHeader } from "./endpoints";

const FAMILY_TEXT: Record<string, string> = {
  timeout: "Timed out",
  connection: "Could not connect (refused, DNS, TLS, network)",
  "4xx": "HTTP 4xx answers",
  "5xx": "HTTP 5xx answers",
  other: "Other (redirects, invalid answers, blocked URLs)",
};

export const StatsPage: FC<{
  view: PortalView;
  row: WebhookEndpointRow;
  stats: EndpointStats;
  health: RecentHealth | undefined;
}> = ({ view, row, stats, health }) => (
  <>
    <EndpointHeader row={row} view={view} current="stats" health={health} />
    <nav class="actions" aria-label="Window">
      {STATS_WINDOW_NAMES.map((w) => (
        <a
          class={w === stats.window ? "btn primary" : "btn"}
          href={webhookPath(row.id, `/stats?window=${w}`)}
          aria-current={w === stats.window ? "page" : undefined}
        >
          {w}
        </a>
      ))}
    </nav>
    <p class="muted small">Per {stats.bucket}, in UTC like every time in the portal. Exact up to the last attempt.</p>
    <div class="kpis">
      <div class="kpi">
        <b>{stats.attempts}</b>
        <span>Attempts</span>
      </div>
      <div class="kpi">
        <b>{percent(stats.success_rate)}</b>
        <span>Success rate</span>
      </div>
      <div class="kpi">
        <b>{duration(stats.latency.p50)}</b>
        <span>Latency p50</span>
      </div>
      <div class="kpi">
        <b>{duration(stats.latency.p95)}</b>
        <span>Latency p95</span>
      </div>
      <div class="kpi">
        <b>{stats.deliveries.failed}</b>
        <span>Failed deliveries</span>
      </div>
    </div>
    {stats.attempts === 0 && (
      <div class="notice warn" role="status">
        No attempts in this window yet. Send a test event from the overview to see data here.
      </div>
    )}
    <AttemptsChart stats={stats} />
    <LatencyChart stats={stats} />
    <section class="card" aria-labelledby="failures-h">
      <h2 id="failures-h">Failed attempts by kind</h2>
      <table>
        <tbody>
          {Object.entries(stats.failures_by_class).map(([kind, n]) => (
            <tr>
              <th scope="row">{FAMILY_TEXT[kind] ?? kind}</th>
              <td class="num">
                {n === 0 ? (
                  n
                ) : (
                  <a
                    href={webhookPath(
                      row.id,
                      `/deliveries?error=${encodeURIComponent(kind)}&since=${encodeURIComponent(stats.from)}&until=${encodeURIComponent(stats.to)}`,
                    )}
                    aria-label={`${n} failed attempts: ${FAMILY_TEXT[kind] ?? kind}; see the deliveries`}
                  >
                    {n}
                  </a>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p class="muted small">Each number links to the deliveries whose last attempt failed that way in the window.</p>
    </section>
  </>
);
