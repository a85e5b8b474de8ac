// SVG charts rendered on the server from the stats read model (readEndpointStats): no chart library, no client script.
import type { FC } from "hono/jsx";
import type { EndpointStats } from "./stats";

type Point = EndpointStats["series"][number];

/** A small line of attempts per bucket (the endpoints list). */
export const Sparkline: FC<{ series: Point[]; label: string }> = ({ series, label }) => {
  const w = 120;
  const h = 28;
  const max = Math.max(1, ...series.map((s) => s.attempts));
  const step = series.length > 1 ? w / (series.length - 1) : w;
  const y = (v: number) => (h - 2 - (v / max) * (h - 4)).toFixed(1);
  const line = series.map((s, i) => `${(i * step).toFixed(1)},${y(s.attempts)}`).join(" ");
  const failed = series.map((s, i) =>
    s.failures > 0 ? <circle cx={(i * step).toFixed(1)} cy={y(s.attempts)} r="2" class="dot-bad" /> : null,
  );
  return (
    <svg class="spark" width={w} height={h} viewBox={`0 0 ${w} ${h}`} role="img" aria-label={label}>
      <polyline points={line} fill="none" stroke="currentColor" stroke-width="1.5" stroke-linejoin="round" />
      {failed}
    </svg>
  );
};

// The plot leaves room for labels at the phone size (portal-css.ts draws chart text larger in user units there, so it
// stays about 12 px on screen when the 720-unit-wide chart shrinks to a phone's width).
const W = 720;
const H = 240;
const PAD = { left: 64, right: 12, top: 34, bottom: 40 };
/** Half an x label ("23:00") at the phone size: the last one stays this far inside the right edge. */
const X_LABEL_HALF_WIDTH = 40;

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const mag = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * mag) return m * mag;
  return 10 * mag;
}

const bucketLabel = (iso: string, bucket: "hour" | "day") =>
  bucket === "hour" ? `${iso.slice(11, 16)}` : iso.slice(5, 10);

/** Y labels without the unit (the chart's title names it); x labels every few buckets, half of them hidden on a phone. */
const Axes: FC<{ max: number; series: Point[]; bucket: "hour" | "day" }> = ({ max, series, bucket }) => {
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const ticks = [0, 0.5, 1].map((f) => ({ v: max * f, y: PAD.top + plotH - f * plotH }));
  const every = Math.max(1, Math.ceil(series.length / 8));
  const slot = plotW / Math.max(1, series.length);
  return (
    <>
      {ticks.map((t) => (
        <>
          <line class="grid-line" x1={PAD.left} x2={W - PAD.right} y1={t.y} y2={t.y} />
          <text x={PAD.left - 6} y={t.y + 4} text-anchor="end">
            {String(Math.round(t.v))}
          </text>
        </>
      ))}
      {series.map((s, i) =>
        i % every === 0 ? (
          <text
            x={Math.min(PAD.left + slot * i + slot / 2, W - X_LABEL_HALF_WIDTH)}
            y={H - 10}
            text-anchor="middle"
            class={i % (every * 2) === 0 ? undefined : "minor"}
          >
            {bucketLabel(s.start, bucket)}
          </text>
        ) : null,
      )}
    </>
  );
};

/** Successful and failed attempts per bucket, stacked. */
export const AttemptsChart: FC<{ stats: EndpointStats }> = ({ stats }) => {
  const { series, bucket } = stats;
  const max = niceMax(Math.max(...series.map((s) => s.attempts), 0));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, series.length);
  const barW = Math.max(1, slot * 0.7);
  const hOf = (v: number) => (v / max) * plotH;
  return (
    <figure class="card">
      <h2 id="attempts-title">Attempts per {bucket} (UTC)</h2>
      <svg class="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby="attempts-title attempts-desc">
        <desc id="attempts-desc">{`${stats.attempts} attempts in the window, success rate ${stats.success_rate === null ? "n/a" : `${Math.round(stats.success_rate * 1000) / 10}%`}, per ${bucket}.`}</desc>
        <Axes max={max} series={series} bucket={bucket} />
        {series.map((s, i) => {
          const x = PAD.left + slot * i + (slot - barW) / 2;
          const okH = hOf(s.successes);
          const badH = hOf(s.failures);
          const base = PAD.top + plotH;
          return (
            <g>
              <title>{`${s.start}: ${s.successes} succeeded, ${s.failures} failed`}</title>
              {okH > 0 && (
                <rect
                  class="bar-ok"
                  x={x.toFixed(1)}
                  y={(base - okH).toFixed(1)}
                  width={barW.toFixed(1)}
                  height={okH.toFixed(1)}
                />
              )}
              {badH > 0 && (
                <rect
                  class="bar-bad"
                  x={x.toFixed(1)}
                  y={(base - okH - badH).toFixed(1)}
                  width={barW.toFixed(1)}
                  height={badH.toFixed(1)}
                />
              )}
            </g>
          );
        })}
      </svg>
      <figcaption class="legend">
        <span>
          <i class="sw-ok"></i>Succeeded
        </span>
        <span>
          <i class="sw-bad"></i>Failed
        </span>
      </figcaption>
    </figure>
  );
};

/** Mean attempt latency per bucket, with the window's p50 and p95 as reference lines. */
export const LatencyChart: FC<{ stats: EndpointStats }> = ({ stats }) => {
  const { series, bucket, latency } = stats;
  const values = series.map((s) => s.avg_latency_ms);
  const max = niceMax(Math.max(0, ...values.map((v) => v ?? 0), latency.p95 ?? 0));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, series.length);
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  const points = values.flatMap((v, i) =>
    v === null ? [] : [`${(PAD.left + slot * i + slot / 2).toFixed(1)},${y(v).toFixed(1)}`],
  );
  // p50's label at the left, p95's at the right: close values never print over each other.
  const ref = (v: number | null, cls: string, name: string, side: "start" | "end") =>
    v === null ? null : (
      <>
        <line
          class={cls}
          x1={PAD.left}
          x2={W - PAD.right}
          y1={y(v).toFixed(1)}
          y2={y(v).toFixed(1)}
          stroke-dasharray="5 4"
        />
        {/* Above its line; PAD.top leaves room for it when the line is the chart's top. */}
        <text
          x={side === "end" ? W - PAD.right - 4 : PAD.left + 4}
          y={(y(v) - 6).toFixed(1)}
          text-anchor={side}
          class="ref-label"
        >{`${name} ${v} ms`}</text>
      </>
    );
  return (
    <figure class="card">
      <h2 id="latency-title">Latency in ms per {bucket} (UTC)</h2>
      <svg class="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby="latency-title latency-desc">
        <desc id="latency-desc">{`Mean attempt duration per ${bucket}; window p50 ${latency.p50 ?? "n/a"} ms, p95 ${latency.p95 ?? "n/a"} ms.`}</desc>
        <Axes max={max} series={series} bucket={bucket} />
        {ref(latency.p50, "ref-p50", "p50", "start")}
        {ref(latency.p95, "ref-p95", "p95", "end")}
        {points.length > 1 && <polyline class="line-acc" points={points.join(" ")} fill="none" stroke-width="2" />}
        {points.map((pt) => {
          const [cx, cy] = pt.split(",");
          return <circle class="dot-acc" cx={cx} cy={cy} r="3" />;
        })}
      </svg>
      <figcaption class="legend">
        <span>
          <i class="sw-acc"></i>Mean per {bucket}
        </span>
        <span>
          <i class="sw-warn"></i>p50 / p95 of the window (dashed)
        </span>
      </figcaption>
    </figure>
  );
};
