// Live monitoring: apply the server's snapshots (first embedded in the page, then by Server-Sent Events).
(() => {
  const cfg = JSON.parse(document.getElementById("live-config").textContent);
  const L = cfg.labels;
  const pct = (v) => (v === null || v === undefined ? "–" : Math.round(v * 100) + "%");
  const fmt = (v) => (Number.isInteger(v) || Math.abs(v) >= 1000 ? Math.round(v).toLocaleString("en") : Number(v).toFixed(1));
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})[c]);
  // Korean time like the rest of the pages, wherever the browser is
  const time = (iso) => new Date(iso).toLocaleTimeString(cfg.locale === "ko" ? "ko-KR" : "en-GB", {timeZone: "Asia/Seoul"});

  function applyValues(snap) {
    document.querySelectorAll("[data-tag]").forEach((el) => {
      const v = snap.values[el.dataset.tag];
      if (v) el.textContent = fmt(v.v);
    });
    document.querySelectorAll("[data-machine]").forEach((card) => {
      const id = card.dataset.machine;
      const s = snap.states[id];
      const code = s === null || s === undefined ? "none" : String(Math.round(s));
      const reason = snap.reasons && snap.reasons[id] !== null ? L.reasons[String(Math.round(snap.reasons[id]))] : null;
      const age = snap.ages ? snap.ages[id] : null;
      const stale = age !== null && age !== undefined && age > L.stale_after_s;
      card.classList.remove("state-0", "state-1", "state-2", "state-none");
      card.classList.add("state-" + code);
      card.classList.toggle("stale", stale);
      const label = card.querySelector("[data-state-label]");
      if (!label) return;
      if (stale) label.textContent = L.stale.replace("{min}", Math.max(1, Math.round(age / 60)));
      else if (code === "none") label.textContent = L.no_data;
      else label.textContent = L.states[code] + (code !== "1" && reason ? " · " + reason : "");
    });
  }

  function applyOee(oee) {
    document.querySelectorAll("[data-oee]").forEach((el) => {
      const o = oee[el.dataset.oee];
      if (!o) { el.innerHTML = ""; return; }
      el.title = o.explain.join("\n");
      if ("compact" in el.dataset) {
        el.textContent = el.dataset.oee === "plant" ? pct(o.oee) :
          `OEE ${pct(o.oee)} · A ${pct(o.availability)} · P ${pct(o.performance)} · Q ${pct(o.quality)}`;
        return;
      }
      const bar = (key, letter) => `<div class="oee-bar" title="${esc(L[key])}"><span>${letter}</span>` +
        `<div class="track"><i style="width:${Math.round((o[key] || 0) * 100)}%"></i></div><b>${pct(o[key])}</b></div>`;
      el.innerHTML = `<div class="oee-head"><span class="oee-value" data-testid="oee-value">${pct(o.oee)}</span> OEE</div>` +
        bar("availability", "A") + bar("performance", "P") + bar("quality", "Q");
    });
  }

  function alarmItem(a) {
    const ack = a.acked ? `<small>✓ ${esc(L.acked)}</small>` : cfg.can_act ?
      `<form method="post" action="/monitoring/alarms/ack"><input type="hidden" name="csrf_token" value="${esc(cfg.csrf)}">` +
      `<input type="hidden" name="alarm_id" value="${a.id}"><input type="hidden" name="next" value="${esc(cfg.next)}">` +
      `<button type="submit" class="outline">${esc(L.ack)}</button></form>` : "";
    return `<li class="sev-${esc(a.severity)}" data-alarm="${a.id}"><span class="sev">${esc(L.severities[a.severity] || a.severity)}</span> ` +
      `<strong>${esc(a.equipment)}</strong> ${esc(a.condition)}<br><small class="muted">${time(a.raised_at)} · ${a.value}</small> ${ack}</li>`;
  }

  function applyAlarms(alarms) {
    const list = document.querySelector("[data-alarm-list]");
    if (list) list.innerHTML = alarms.length ? alarms.map(alarmItem).join("") : `<li class="sev-info">${esc(L.no_alarms)}</li>`;
    const total = document.querySelector("[data-alarm-total]");
    if (total) total.textContent = alarms.length;
    document.querySelectorAll("[data-alarm-count]").forEach((el) => {
      const mine = alarms.filter((a) => String(a.equipment_id) === el.dataset.alarmCount);
      el.textContent = mine.length ? "⚠ " + mine.map((a) => a.condition).join(", ") : "";
    });
  }

  function applyCounts(snap) {
    const codes = Object.values(snap.states).filter((s) => s !== null).map((s) => String(Math.round(s)));
    document.querySelectorAll("[data-state-count]").forEach((el) => {
      el.textContent = codes.filter((c) => c === el.dataset.stateCount).length;
    });
  }

  function apply(snap) {
    applyValues(snap);
    applyCounts(snap);
    if (snap.oee) applyOee(snap.oee);
    applyAlarms(snap.alarms);
    const up = document.querySelector("[data-live-updated]");
    if (up) up.textContent = time(snap.at);
    document.dispatchEvent(new CustomEvent("smart365:snapshot", {detail: snap}));
  }

  document.addEventListener("DOMContentLoaded", () => {
    apply(cfg.snapshot);
    const source = new EventSource(cfg.stream);
    source.addEventListener("snapshot", (event) => apply(JSON.parse(event.data)));
  });
})();
