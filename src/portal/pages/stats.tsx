// Stats of one endpoint over a window, as server-rendered charts.
import type { FC } from "hono/jsx";
import type { WebhookEndpointRow } from "../../db/schema";
import { STATS_WINDOW_NAMES } from "../../domain/stats/read-model";
import { AttemptsChart, LatencyChart } from "../charts";
import type { PortalView } from "../context";
import { percent, webhookPath } from "../layout";
import type { EndpointStats } from "../stats";
import { EndpointHeader } from "./endpoints";

export const StatsPage: FC<{ view: PortalView; row: WebhookEndpointRow; stats: EndpointStats }> = ({
  view,
  row,
  stats,
}) => (
  <>
    <EndpointHeader row={row} view={view} current="stats" />
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
    <p class="muted small">Per {stats.bucket} (UTC buckets). Exact up to the last attempt.</p>
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
        <b>{stats.latency.p50 === null ? "—" : `${stats.latency.p50} ms`}</b>
        <span>Latency p50</span>
      </div>
      <div class="kpi">
        <b>{stats.latency.p95 === null ? "—" : `${stats.latency.p95} ms`}</b>
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
      <h2 id="failures-h">Failures by kind</h2>
      <table>
        <tbody>
          {Object.entries(stats.failures_by_class).map(([kind, n]) => (
            <tr>
              <th scope="row">{kind}</th>
              <td class="num">{n}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  </>
);
