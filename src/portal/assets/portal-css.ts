// The portal's one stylesheet, served by the Worker (no CDN, system fonts). Inline `style` attributes are not used:
// the Content-Security-Policy allows stylesheets from 'self' only.
export const PORTAL_CSS = `
:root{--bg:#f6f7f9;--panel:#fff;--ink:#17202c;--muted:#5b6675;--line:#e3e6eb;--accent:#3b5bdb;--accent-ink:#fff;
--ok:#17693a;--ok-bg:#e6f4ec;--warn:#8a4b00;--warn-bg:#fdf0dc;--bad:#b02525;--bad-bg:#fde8e8;--fail:#7a1f5c;--fail-bg:#f8e6f1;--idle:#5b6675;--idle-bg:#eef0f3;
--radius:8px;--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;
font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);background:var(--bg)}
@media (prefers-color-scheme:dark){:root{--bg:#0f141b;--panel:#171d26;--ink:#e6e9ee;--muted:#9aa4b2;--line:#2a3340;--accent:#7c93ff;--accent-ink:#0f141b;
--ok:#5fd08f;--ok-bg:#12301f;--warn:#f2b45c;--warn-bg:#35260f;--bad:#ff8080;--bad-bg:#3a1616;--fail:#f59ad0;--fail-bg:#3a1230;--idle:#9aa4b2;--idle-bg:#232b36}}
*{box-sizing:border-box}
body{margin:0;line-height:1.5;font-size:15px}
a{color:var(--accent)}
a:hover{text-decoration-thickness:2px}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px;border-radius:4px}
.skip{position:absolute;left:-999px;top:0;background:var(--panel);padding:.5rem 1rem;z-index:10}
.skip:focus{left:1rem;top:.5rem}
header.top{background:var(--panel);border-bottom:1px solid var(--line)}
.bar{max-width:1120px;margin:0 auto;padding:.6rem 1.25rem;display:flex;align-items:center;gap:1.25rem;flex-wrap:wrap}
.brand{font-weight:700;text-decoration:none;color:var(--ink);display:flex;align-items:center;gap:.5rem}
.brand svg{color:var(--accent)}
nav.main{display:flex;gap:.25rem;flex:1}
nav.main a{padding:.35rem .7rem;border-radius:6px;text-decoration:none;color:var(--muted);font-weight:500}
nav.main a[aria-current=page]{background:var(--idle-bg);color:var(--ink)}
.who{display:flex;align-items:center;gap:.6rem;color:var(--muted);font-size:.875rem}
main{max-width:1120px;margin:0 auto;padding:1.5rem 1.25rem 4rem}
h1{font-size:1.5rem;margin:.25rem 0 1rem;line-height:1.25;overflow-wrap:anywhere}
h2{font-size:1.1rem;margin:0 0 .75rem}
.crumbs{font-size:.875rem;color:var(--muted);margin:0}
.crumbs a{color:var(--muted)}
.head{display:flex;justify-content:space-between;align-items:flex-start;gap:1rem;flex-wrap:wrap;margin-bottom:1rem}
.head h1{margin-bottom:.25rem}
.actions{display:flex;gap:.5rem;flex-wrap:wrap;align-items:center}
.card{background:var(--panel);border:1px solid var(--line);border-radius:var(--radius);padding:1.1rem 1.25rem;margin-bottom:1.25rem}
.grid{display:grid;gap:1.25rem;grid-template-columns:repeat(auto-fit,minmax(min(100%,320px),1fr))}
.kpis{display:grid;gap:.75rem;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));margin-bottom:1.25rem}
.kpi{background:var(--panel);border:1px solid var(--line);border-radius:var(--radius);padding:.75rem 1rem}
.kpi b{display:block;font-size:1.35rem}
.kpi b time,.kpi b .muted{font-size:1rem;font-weight:600}
.kpi span{color:var(--muted);font-size:.8rem}
.muted{color:var(--muted)}
.small{font-size:.85rem}
.mono,code,pre{font-family:var(--mono);font-size:.85rem}
.url{font-family:var(--mono);font-size:.875rem;overflow-wrap:anywhere}
h1.url{font-size:1.25rem;margin-bottom:.35rem}
pre{background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:.75rem;overflow:auto;max-height:28rem;margin:0;white-space:pre-wrap;overflow-wrap:anywhere}
table{width:100%;border-collapse:collapse}
th,td{text-align:left;padding:.6rem .5rem;border-bottom:1px solid var(--line);vertical-align:middle}
th{font-size:.75rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);font-weight:600}
tbody tr:hover{background:var(--bg)}
.table-wrap{overflow-x:auto}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-flex;align-items:center;gap:.3rem;padding:.1rem .55rem;border-radius:999px;font-size:.78rem;font-weight:600;white-space:nowrap}
.badge::before{content:"";width:.45rem;height:.45rem;border-radius:50%;background:currentColor}
.b-ok{color:var(--ok);background:var(--ok-bg)}.b-warn{color:var(--warn);background:var(--warn-bg)}
.b-bad{color:var(--bad);background:var(--bad-bg)}.b-idle{color:var(--idle);background:var(--idle-bg)}
.b-fail{color:var(--fail);background:var(--fail-bg)}.b-fail::before{border-radius:1px;transform:rotate(45deg)}
.err{color:var(--bad)}.last-error{margin-top:.2rem}
.btn{display:inline-flex;align-items:center;gap:.4rem;padding:.5rem .9rem;border-radius:6px;border:1px solid var(--line);background:var(--panel);
color:var(--ink);font:inherit;font-weight:500;text-decoration:none;cursor:pointer;min-height:2.4rem}
.btn:hover{border-color:var(--muted)}
.btn.primary{background:var(--accent);border-color:var(--accent);color:var(--accent-ink)}
.btn.danger{color:var(--bad);border-color:var(--bad)}
.btn.danger.solid{background:var(--bad);color:#fff}
.btn[aria-busy=true]{opacity:.7;cursor:progress}
.btn[aria-busy=true]::after{content:"";width:.8rem;height:.8rem;border:2px solid currentColor;border-right-color:transparent;border-radius:50%;animation:spin .8s linear infinite}
@keyframes spin{to{transform:rotate(360deg)}}
form.inline{display:inline}
label{font-weight:600;display:block;margin-bottom:.3rem}
.field{margin-bottom:1.1rem}
.hint{color:var(--muted);font-size:.85rem;margin:.25rem 0 0;font-weight:400}
input[type=text],input[type=url],input[type=number],input[type=datetime-local],select,textarea{width:100%;padding:.5rem .6rem;border:1px solid var(--line);
border-radius:6px;background:var(--panel);color:var(--ink);font:inherit}
textarea{font-family:var(--mono);font-size:.85rem;min-height:5.5rem}
input:focus-visible,select:focus-visible,textarea:focus-visible{outline:3px solid var(--accent);outline-offset:0}
[aria-invalid=true]{border-color:var(--bad)!important}
.error-text{color:var(--bad);font-size:.85rem;margin:.25rem 0 0}
fieldset{border:1px solid var(--line);border-radius:6px;padding:.75rem 1rem;margin:0 0 1.1rem}
legend{font-weight:600;padding:0 .3rem}
.checks{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:.15rem 1rem}
.check{display:flex;align-items:flex-start;gap:.45rem;font-weight:400;margin:0;padding:.15rem 0}
.check input{margin-top:.3rem}
.check small{display:block;color:var(--muted)}
details.group{border-top:1px solid var(--line);padding:.4rem 0}
details.group summary{cursor:pointer;font-weight:600;padding:.2rem 0}
.filters{display:grid;gap:.75rem;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));align-items:end}
.filters .field{margin:0}
.pager{display:flex;justify-content:space-between;align-items:center;margin-top:1rem;gap:1rem;flex-wrap:wrap}
.notice{border-radius:var(--radius);padding:.9rem 1.1rem;margin-bottom:1.25rem;border:1px solid}
.notice.ok{background:var(--ok-bg);border-color:var(--ok)}.notice.bad{background:var(--bad-bg);border-color:var(--bad)}
.notice.warn{background:var(--warn-bg);border-color:var(--warn)}
.notice h2{margin:0 0 .35rem}
.secret{display:flex;gap:.5rem;align-items:center;flex-wrap:wrap}
.secret code{background:var(--panel);border:1px dashed var(--muted);padding:.45rem .6rem;border-radius:6px;overflow-wrap:anywhere;font-size:.95rem}
.empty{text-align:center;padding:2.5rem 1rem;color:var(--muted)}
.empty h2{color:var(--ink)}
dl.props{display:grid;grid-template-columns:max-content 1fr;gap:.4rem 1.25rem;margin:0}
dl.props dt{color:var(--muted)}
dl.props dd{margin:0;overflow-wrap:anywhere}
.tabs{display:flex;gap:.25rem;border-bottom:1px solid var(--line);margin-bottom:1.25rem;overflow-x:auto}
.tabs a{padding:.5rem .85rem;text-decoration:none;color:var(--muted);border-bottom:2px solid transparent;white-space:nowrap;font-weight:500}
.tabs a[aria-current=page]{color:var(--ink);border-bottom-color:var(--accent)}
.chart{width:100%;height:auto;display:block}
.chart text{fill:var(--muted);font-size:13px;font-family:inherit}.chart .ref-label{fill:var(--ink)}
.chart .grid-line{stroke:var(--line)}
.legend{display:flex;gap:1rem;flex-wrap:wrap;font-size:.85rem;color:var(--muted);margin:.5rem 0 0}
.legend i{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin-right:.35rem;vertical-align:-1px}
.sw-ok{background:var(--ok)}.sw-bad{background:var(--bad)}.sw-acc{background:var(--accent)}.sw-warn{background:var(--warn)}
.spark{color:var(--accent)}.dot-bad{fill:var(--bad)}.bar-ok{fill:var(--ok)}.bar-bad{fill:var(--bad)}
.line-acc{stroke:var(--accent)}.dot-acc{fill:var(--accent)}.ref-p50,.ref-p95{stroke:var(--warn)}.ref-p95{stroke-width:1.5}
figure.card{margin:0 0 1.25rem}
.attempt{border-left:3px solid var(--line);padding:.25rem 0 .25rem 1rem;margin-bottom:1rem}
.attempt.ok{border-left-color:var(--ok)}.attempt.bad{border-left-color:var(--bad)}
.attempt details{margin:.35rem 0}.attempt summary{cursor:pointer;font-size:.85rem;color:var(--accent)}
dl.headers{display:grid;grid-template-columns:max-content 1fr;gap:.1rem .75rem;margin:.35rem 0;font-family:var(--mono);font-size:.8rem}
dl.headers dt{color:var(--muted)}dl.headers dd{margin:0;overflow-wrap:anywhere}
.job{margin-bottom:.75rem}.job label{font-weight:400}progress{width:100%;height:.9rem;accent-color:var(--accent)}
.quick{grid-column:1/-1;margin:0}.test-form .field{margin-bottom:.6rem}
.center{max-width:34rem;margin:4rem auto;text-align:center}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:720px){.hide-sm{display:none}.bar{gap:.6rem}nav.main{order:3;flex-basis:100%}main{padding:1rem .85rem 3rem}
th,td{padding:.5rem .3rem}h1{font-size:1.3rem}h1.url{font-size:1.05rem}td code{font-size:.78rem}.card{padding:.9rem}
table.rows thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
table.rows tr{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:.15rem .75rem;padding:.6rem 0;border-bottom:1px solid var(--line)}
table.rows td{display:block;border:0;padding:.1rem 0;text-align:left}table.rows td:first-child{grid-column:1/-1}
table.rows td[data-label]::before{content:attr(data-label);display:block;font-size:.7rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.chart text{font-size:26px}.chart text.minor{display:none}.tabs{flex-wrap:wrap;overflow:visible}}
`;
