// The portal's progressive enhancement, plain script served by the Worker. Every page works without it: it adds the
// viewer's local time as a tooltip (the pages show UTC), marks a submitting button busy (no double submits), copies
// secrets and payloads, and refreshes a live part of a page (a delivery not yet finished, a running recovery) in place.
export const PORTAL_JS = `(() => {
  const fmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
  const enhance = (root) => {
    for (const t of root.querySelectorAll("time[datetime]")) {
      const d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) t.title = "Your time: " + fmt.format(d);
    }
    for (const b of root.querySelectorAll("[data-copy]")) {
      b.hidden = false;
      b.addEventListener("click", async () => {
        const el = document.getElementById(b.getAttribute("data-copy"));
        try { await navigator.clipboard.writeText(el.textContent); b.textContent = "Copied"; } catch { b.textContent = "Select and copy"; }
      });
    }
  };
  enhance(document);
  document.addEventListener("submit", (e) => {
    const form = e.target;
    const button = e.submitter || form.querySelector("button[type=submit]");
    if (button && form.method.toLowerCase() === "post") {
      if (button.getAttribute("aria-busy") === "true") { e.preventDefault(); return; }
      button.setAttribute("aria-busy", "true");
      const busy = button.getAttribute("data-busy");
      if (busy) button.textContent = busy;
    }
  });
  // Live parts: [data-live] elements with an id are fetched again every few seconds and replaced by their new version,
  // until it no longer says it is live; at most for ten minutes.
  const started = Date.now();
  const refresh = async () => {
    const live = [...document.querySelectorAll("[data-live][id]")];
    if (live.length === 0 || Date.now() - started > 600000) return;
    try {
      const res = await fetch(location.href, { headers: { accept: "text/html" }, credentials: "same-origin" });
      if (res.ok) {
        const next = new DOMParser().parseFromString(await res.text(), "text/html");
        for (const el of live) {
          const fresh = next.getElementById(el.id);
          if (!fresh) { el.remove(); continue; }
          const copy = document.importNode(fresh, true);
          el.replaceWith(copy);
          enhance(copy);
        }
      }
    } catch {}
    setTimeout(refresh, 3000);
  };
  setTimeout(refresh, 3000);
})();
`;
