// The portal's progressive enhancement, a few hundred bytes of plain script served by the Worker. Every page works without
// it: it only shows times in the viewer's zone, marks a submitting button busy (no double submits) and copies secrets.
export const PORTAL_JS = `(() => {
  const fmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
  for (const t of document.querySelectorAll("time[datetime]")) {
    const d = new Date(t.getAttribute("datetime"));
    if (isNaN(d)) continue;
    t.title = "UTC: " + d.toISOString().replace("T", " ").replace(/\\.\\d+Z$/, " UTC");
    t.textContent = fmt.format(d);
  }
  document.addEventListener("submit", (e) => {
    const form = e.target;
    const button = e.submitter || form.querySelector("button[type=submit]");
    if (button) {
      if (button.getAttribute("aria-busy") === "true") { e.preventDefault(); return; }
      button.setAttribute("aria-busy", "true");
      const busy = button.getAttribute("data-busy");
      if (busy) button.textContent = busy;
    }
  });
  for (const b of document.querySelectorAll("[data-copy]")) {
    b.hidden = false;
    b.addEventListener("click", async () => {
      const el = document.getElementById(b.getAttribute("data-copy"));
      try { await navigator.clipboard.writeText(el.textContent); b.textContent = "Copied"; } catch { b.textContent = "Select and copy"; }
    });
  }
})();
`;
