// The status page of `mac serve`. Three sources:
//   - GET /v1/pool: every account as `mac status --json` shows it (state, usage windows,
//     resets, token expiry, holder), re-read every POOL_EVERY_MS and shortly after any event
//     that changes an account;
//   - GET /v1/events (EventSource): the pool's events as they happen, and the gateway's
//     counters (`activity`) every 2 s;
//   - the clock: countdowns tick here each second, corrected by the gateway's clock.
// An event's cooldown holds until its deadline (cooldowns are deadlines and are never
// shortened); a "needs login" from an event holds until a pool read made after it has settled
// says otherwise. A cooldown of one model family (a `seven_day_opus` 429: `family` set) leaves
// the account's state alone: the account still serves the other families, and the row lists
// the family's limit beside its state (from the event, and from `familyLimits` of /v1/pool).
// Everything is built with textContent: no label can inject markup.
"use strict";

(() => {
  const POOL_EVERY_MS = 15000;
  const REREAD_AFTER_MS = 300;
  const SETTLE_MS = 5000;

  const PROVIDER_NAMES = { anthropic: "Claude (anthropic)", codex: "ChatGPT (codex)" };
  const STATE_TEXT = {
    ready: "ready",
    "rate-limited": "rate-limited",
    exhausted: "window exhausted",
    "needs-login": "needs login",
    disabled: "disabled",
  };
  const CLASS_TEXT = {
    throttle: "short throttle",
    five_hour: "5-hour window used up",
    seven_day: "7-day window used up",
    billing: "would be billed as extra usage",
    overload: "provider overloaded",
  };
  const CAUSE_TEXT = {
    rate_limited: "rate limited",
    auth_failed: "login failed",
    revoked: "token revoked",
    server_error: "server error",
    network_error: "network error",
  };
  const END_TEXT = {
    completed: "completed",
    in_band_error: "error inside the stream",
    upstream_cut: "cut by the provider",
    client_gone: "client went away",
  };

  let skew = 0; // the gateway's clock minus this browser's
  const now = () => Date.now() + skew;

  let pool = null; // the last /v1/pool document
  let poolReadAt = 0; // when that read started (gateway time)
  let activity = null; // the last `activity` snapshot
  const serving = new Map(); // provider -> account id (live from `selected` / `rotated`)
  const overrides = new Map(); // account id -> { state, until, cls, why, at }
  const familyOverrides = new Map(); // account id -> Map(family -> until)
  const rows = new Map(); // account id -> the row's elements
  const recent = []; // notable events, newest first
  const RECENT_MAX = 30;

  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const setText = (node, text) => {
    if (node.textContent !== text) node.textContent = text;
  };
  const setAttr = (node, name, value) => {
    if (value === null || value === undefined) {
      node.removeAttribute(name);
    } else if (node.getAttribute(name) !== String(value)) {
      node.setAttribute(name, String(value));
    }
  };

  // --- time -----------------------------------------------------------------------------

  const pad = (n) => String(n).padStart(2, "0");
  // "14:03:22", or "Tue 14:03:22" when not today.
  function clock(ms) {
    const d = new Date(ms - skew);
    const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    const today = new Date();
    if (d.toDateString() === today.toDateString()) return time;
    return `${d.toLocaleDateString(undefined, { weekday: "short" })} ${time}`;
  }
  // "00:01:59", "3d 04:05:06": one width within each range, never negative.
  function countdown(ms) {
    const s = Math.max(0, Math.ceil(ms / 1000));
    const days = Math.floor(s / 86400);
    const hms = `${pad(Math.floor((s % 86400) / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
    return days > 0 ? `${days}d ${hms}` : hms;
  }

  // --- state of an account ----------------------------------------------------------------

  // The last account-wide cooldown (a family's limit does not explain the account's state).
  function lastCooldown(id) {
    const a = activity && activity.accounts.find((x) => x.account === id);
    return a && a.lastCooldown && !a.lastCooldown.family ? a.lastCooldown : null;
  }

  // The model families limited on the account at `t`: [family, until], by family name.
  function familyLimits(account, t) {
    const limits = new Map();
    for (const l of account.familyLimits || []) limits.set(l.family, l.until);
    for (const [family, until] of familyOverrides.get(account.id) || []) {
      if (!(limits.get(family) >= until)) limits.set(family, until);
    }
    return [...limits].filter(([, until]) => until > t).sort(([a], [b]) => (a < b ? -1 : 1));
  }

  // The state to show: the pool's, with what events said since.
  function effective(account) {
    let state = account.state;
    let until = account.blockedUntil;
    let why = account.reason;
    let cls = null;
    const o = overrides.get(account.id);
    const t = now();
    if (o && o.state === "rate-limited" && o.until > t) {
      if (state === "ready" || ((state === "rate-limited" || state === "exhausted") && (until || 0) < o.until)) {
        state = "rate-limited";
        until = o.until;
        cls = o.cls;
      }
    }
    if (o && o.state === "needs-login" && poolReadAt < o.at + SETTLE_MS && state !== "disabled") {
      state = "needs-login";
      until = null;
      why = o.why;
    }
    if ((state === "rate-limited" || state === "exhausted") && until && until <= t) {
      // It passed by itself; the next pool read confirms.
      state = "ready";
      until = null;
      why = null;
    }
    if (state === "rate-limited" && !cls) {
      const c = lastCooldown(account.id);
      if (c && c.until > t) cls = c.class;
    }
    return { state, until, why, cls };
  }

  function accountsOf(p) {
    return p && !p.error ? p.accounts : [];
  }

  function nameOf(id) {
    for (const p of (pool && pool.pools) || []) {
      const a = accountsOf(p).find((x) => x.id === id);
      if (a) return a.name;
    }
    return id ? id.slice(0, 8) : "?";
  }

  // --- rows -----------------------------------------------------------------------------

  function windowRow(label, title) {
    const row = el("div", "window");
    row.append(el("span", "label", label));
    const bar = el("div", "bar");
    bar.setAttribute("role", "progressbar");
    bar.setAttribute("aria-valuemin", "0");
    bar.setAttribute("aria-valuemax", "100");
    bar.setAttribute("aria-label", title);
    const fill = el("div", "fill");
    bar.append(fill);
    const pct = el("span", "pct", "–");
    const reset = el("span", "reset", "");
    const at = el("span", "clock", "");
    const left = el("span", "countdown", "");
    row.append(bar, pct, reset);
    return { row, bar, fill, pct, reset, at, left };
  }

  function makeRow(account) {
    const card = el("article", "account");
    card.dataset.account = account.id;
    const head = el("header");
    const name = el("h3", "name");
    const plan = el("span", "plan");
    const tag = el("span", "tag", "serving");
    tag.hidden = true;
    head.append(name, plan, tag);

    const state = el("p", "state");
    const badge = el("span", "badge");
    const why = el("span", "why");
    const blocked = el("span", "blocked");
    const blockedAt = el("span", "clock");
    const blockedLeft = el("span", "countdown");
    state.append(badge, why, blocked);
    const families = el("p", "families");
    families.hidden = true;

    const five = windowRow("5 h", "5-hour window used");
    const seven = windowRow("7 d", "7-day window used");

    const facts = el("dl", "facts");
    const fact = (title) => {
      const dd = el("dd");
      facts.append(el("dt", null, title), dd);
      return dd;
    };
    const token = fact("Token");
    const holder = fact("Held by");
    const recentFact = fact("Last 5 min");
    const rotation = fact("Last rotation");

    card.append(head, state, families, five.row, seven.row, facts);
    return { card, name, plan, tag, badge, why, blocked, blockedAt, blockedLeft, families, five, seven, token, holder, recentFact, rotation };
  }

  function updateWindow(w, win, t) {
    if (!win) {
      setText(w.pct, "–");
      w.fill.style.width = "0%";
      setAttr(w.bar, "aria-valuenow", null);
      setText(w.reset, "no usage read yet");
      return;
    }
    const used = Math.max(0, win.utilization);
    setText(w.pct, `${Math.round(used)}%`);
    w.fill.style.width = `${Math.min(100, used)}%`;
    setAttr(w.fill, "data-level", used >= 100 ? "full" : used >= 80 ? "high" : null);
    setAttr(w.bar, "aria-valuenow", Math.round(Math.min(100, used)));
    if (win.resetsAt && win.resetsAt > t) {
      if (w.reset.firstChild !== w.at) {
        w.reset.replaceChildren("resets ", w.at, " · in ", w.left);
      }
      setText(w.at, clock(win.resetsAt));
      setText(w.left, countdown(win.resetsAt - t));
      setAttr(w.left, "data-until", win.resetsAt);
    } else {
      w.reset.replaceChildren(win.resetsAt ? "reset (usage not re-read yet)" : "reset time unknown");
    }
  }

  function updateRow(row, account, provider) {
    const t = now();
    const e = effective(account);
    setText(row.name, account.name);
    setText(row.plan, account.plan || "");
    const isServing = serving.get(provider) === account.id;
    row.tag.hidden = !isServing;
    setAttr(row.card, "data-serving", isServing ? "true" : null);
    setAttr(row.card, "data-state", e.state);
    setAttr(row.badge, "data-state", e.state);
    setText(row.badge, STATE_TEXT[e.state] || e.state);

    let why = "";
    if (e.state === "rate-limited") why = e.cls ? CLASS_TEXT[e.cls] || e.cls : "rate limit";
    else if (e.state === "exhausted") why = "a usage window is used up";
    else if (e.state === "needs-login") why = `${e.why || "login failed"} — run mac login`;
    else if (e.state === "disabled") why = e.why || "switched off";
    setText(row.why, why);
    if (e.until && e.until > t) {
      if (row.blocked.firstChild !== row.blockedAt) {
        row.blocked.replaceChildren("until ", row.blockedAt, " · in ", row.blockedLeft);
      }
      setText(row.blockedAt, clock(e.until));
      setText(row.blockedLeft, countdown(e.until - t));
      setAttr(row.blocked, "data-until", e.until);
      row.blocked.hidden = false;
    } else {
      setAttr(row.blocked, "data-until", null);
      row.blocked.hidden = true;
    }

    const limits = familyLimits(account, t);
    row.families.hidden = limits.length === 0;
    row.families.replaceChildren(
      ...limits.map(([family, until]) => {
        const line = el("span", "family");
        line.dataset.family = family;
        line.dataset.until = until;
        line.append(
          el("span", "name-of-family", family),
          ` limited until `,
          el("span", "clock", clock(until)),
          " · in ",
          el("span", "countdown", countdown(until - t)),
          " — other models still served",
        );
        return line;
      }),
    );

    updateWindow(row.five, account.fiveHour, t);
    updateWindow(row.seven, account.sevenDay, t);

    const exp = account.tokenExpiresAt;
    setText(row.token, exp == null ? "none" : exp > t ? `expires in ${countdown(exp - t)}` : `expired ${countdown(t - exp)} ago`);
    const pid = account.heldByPid;
    setText(row.holder, pid == null ? "—" : activity && pid === activity.pid ? `this gateway (pid ${pid})` : `pid ${pid}`);
    const counts = activity && activity.accounts.find((x) => x.account === account.id);
    const attempts = counts ? counts.attempts : 0;
    const errors = counts ? counts.errors : 0;
    setText(row.recentFact, `${attempts} ${attempts === 1 ? "request" : "requests"} · ${errors} ${errors === 1 ? "error" : "errors"}`);
    const r = counts && counts.lastRotation;
    setText(row.rotation, r ? `${CAUSE_TEXT[r.cause] || r.cause} at ${clock(r.at)}` : "—");
    return e;
  }

  // --- the page -------------------------------------------------------------------------

  function render() {
    const main = $("pools");
    if (!pool) return;
    const t = now();
    let usable = 0;
    let total = 0;
    let soonest = null;
    const seen = new Set();
    for (const p of pool.pools) {
      let section = main.querySelector(`section[data-provider="${p.provider}"]`);
      if (!section) {
        section = el("section", "pool");
        section.dataset.provider = p.provider;
        const head = el("div", "pool-head");
        head.append(el("h2", null, PROVIDER_NAMES[p.provider] || p.provider), el("span", "count"));
        section.append(head, el("p", "pool-error"), el("div", "accounts"));
        main.append(section);
      }
      const list = section.querySelector(".accounts");
      const error = section.querySelector(".pool-error");
      setText(error, p.error ? `cannot read ${p.file}: ${p.error}` : "");
      error.hidden = !p.error;
      const accounts = accountsOf(p);
      let poolUsable = 0;
      for (const account of accounts) {
        seen.add(account.id);
        let row = rows.get(account.id);
        if (!row) {
          row = makeRow(account);
          rows.set(account.id, row);
        }
        if (row.card.parentNode !== list || list.children[accounts.indexOf(account)] !== row.card) {
          list.insertBefore(row.card, list.children[accounts.indexOf(account)] || null);
        }
        const e = updateRow(row, account, p.provider);
        if (e.state === "ready") poolUsable += 1;
        if (e.until && e.until > t && (soonest === null || e.until < soonest)) soonest = e.until;
      }
      usable += poolUsable;
      total += accounts.length;
      const count = section.querySelector(".count");
      setText(count, accounts.length === 0 ? "no accounts — add one with mac login" : `${poolUsable} of ${accounts.length} usable`);
    }
    for (const [id, row] of rows) {
      if (!seen.has(id)) {
        row.card.remove();
        rows.delete(id);
      }
    }
    setText($("sum-usable"), `${usable} of ${total}`);
    setText($("sum-reset"), soonest ? `${clock(soonest)} · in ${countdown(soonest - t)}` : "–");
    if (activity) {
      const requests = activity.pools.reduce((sum, p) => sum + p.requests, 0);
      setText($("sum-rate"), (requests / (activity.rateWindowMs / 1000)).toFixed(2));
    }
  }

  function describe(ev) {
    const who = ev.account ? nameOf(ev.account) : ev.label || "";
    switch (ev.type) {
      case "rotated":
        return `${who}: request moved on — ${CAUSE_TEXT[ev.cause] || ev.cause}${ev.status ? ` (${ev.status})` : ""}`;
      case "cooled_down":
        if (ev.family) {
          return `${who}: ${ev.family} limited until ${clock(ev.until)} — ${CLASS_TEXT[ev.class] || ev.class}; other models still served`;
        }
        return `${who}: rate-limited until ${clock(ev.until)} — ${CLASS_TEXT[ev.class] || ev.class}`;
      case "refreshed":
        return `${who}: ${ev.adopted ? "token adopted from another process" : "token refreshed"}`;
      case "disabled":
        return `${who}: needs login — ${ev.reason}`;
      case "waiting":
        return `every account is blocked; a request waits until ${clock(ev.until)}`;
      case "stream_ended":
        return `${who}: stream ended — ${END_TEXT[ev.end] || ev.end}`;
      case "request":
        return `${ev.route}: answered ${ev.status} after ${ev.attempts} attempt${ev.attempts === 1 ? "" : "s"}${who ? ` (${who})` : ""}`;
      default:
        return ev.type;
    }
  }

  function renderRecent() {
    const list = $("recent");
    if (recent.length === 0) return;
    list.replaceChildren(
      ...recent.map((ev) => {
        const item = el("li");
        item.dataset.type = ev.type;
        const where = ev.provider ? `${PROVIDER_NAMES[ev.provider] || ev.provider} · ` : "";
        item.append(el("span", "clock", clock(ev.at)), `${where}${describe(ev)}`);
        return item;
      }),
    );
  }

  function remember(ev) {
    if (!ev.notable) return;
    recent.unshift(ev);
    recent.length = Math.min(recent.length, RECENT_MAX);
    renderRecent();
  }

  // --- sources --------------------------------------------------------------------------

  function connection(state, text) {
    const node = $("connection");
    setAttr(node, "data-state", state);
    setText(node, text);
  }

  let reading = false;
  async function readPool() {
    if (reading) return;
    reading = true;
    const started = now();
    try {
      const response = await fetch("/v1/pool", { cache: "no-store", headers: { accept: "application/json" } });
      if (response.status === 401) {
        connection("closed", "signed out — reload the page to sign in");
        return;
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      pool = await response.json();
      poolReadAt = started;
      render();
    } catch (err) {
      connection("reconnecting", `cannot read /v1/pool (${err.message}); retrying`);
    } finally {
      reading = false;
    }
  }

  let rereadTimer = null;
  function rereadSoon() {
    if (rereadTimer !== null) return;
    rereadTimer = setTimeout(() => {
      rereadTimer = null;
      readPool();
    }, REREAD_AFTER_MS);
  }

  function onEvent(ev) {
    switch (ev.type) {
      case "activity":
        skew = ev.at - Date.now();
        activity = ev;
        for (const p of ev.pools) {
          if (p.serving) serving.set(p.provider, p.serving);
          else serving.delete(p.provider);
        }
        if (ev.recent) {
          recent.length = 0;
          for (const r of ev.recent) recent.unshift({ ...r, notable: true });
          renderRecent();
        }
        break;
      case "selected":
        serving.set(ev.provider, ev.account);
        break;
      case "rotated":
        if (serving.get(ev.provider) === ev.account) serving.delete(ev.provider);
        break;
      case "cooled_down":
        if (ev.family) {
          if (!familyOverrides.has(ev.account)) familyOverrides.set(ev.account, new Map());
          const families = familyOverrides.get(ev.account);
          families.set(ev.family, Math.max(families.get(ev.family) || 0, ev.until));
        } else {
          overrides.set(ev.account, { state: "rate-limited", until: ev.until, cls: ev.class, at: ev.at });
        }
        rereadSoon();
        break;
      case "disabled":
        overrides.set(ev.account, { state: "needs-login", why: ev.reason, at: ev.at });
        if (serving.get(ev.provider) === ev.account) serving.delete(ev.provider);
        rereadSoon();
        break;
      case "refreshed":
      case "lagged":
        rereadSoon();
        break;
      default:
        break;
    }
    remember(ev);
    render();
  }

  function listen() {
    const source = new EventSource("/v1/events");
    source.onopen = () => {
      connection("live", "live");
      readPool();
    };
    source.onmessage = (message) => {
      try {
        onEvent(JSON.parse(message.data));
      } catch (err) {
        connection("reconnecting", `bad event (${err.message})`);
      }
    };
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        connection("closed", "disconnected — reload the page (signed out, or the gateway stopped)");
      } else {
        connection("reconnecting", "reconnecting…");
      }
    };
  }

  // Tick on the second so every countdown moves together.
  function tickEverySecond() {
    render();
    setTimeout(tickEverySecond, 1000 - (Date.now() % 1000) + 5);
  }

  readPool();
  listen();
  setInterval(readPool, POOL_EVERY_MS);
  tickEverySecond();
})();
