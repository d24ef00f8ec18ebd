// Connected Chats tab pages: get the Teams SSO token, load the server-rendered body, and make it interactive.
// Nothing is stored in the browser. Token sources, first found wins:
//   window.connectedChatsGetToken()  - a hook (tests, or a host page that signs in its own way)
//   window.microsoftTeams            - the Teams JS SDK (loaded from Microsoft's CDN only inside a Teams host)
//   none                             - the server may allow a local development admin (DEV_LOCAL_ADMIN)
(() => {
  "use strict";
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  let tokenPromise = null;

  function loadScript(src, ms) {
    return new Promise((resolve, reject) => {
      const s = document.createElement("script");
      const timer = setTimeout(() => reject(new Error("timeout")), ms);
      s.src = src;
      s.onload = () => { clearTimeout(timer); resolve(); };
      s.onerror = () => { clearTimeout(timer); reject(new Error("unreachable")); };
      document.head.appendChild(s);
    });
  }

  async function teamsToken() {
    if (typeof window.connectedChatsGetToken === "function") return window.connectedChatsGetToken();
    let teams = window.microsoftTeams;
    // Teams frames tabs on the web and desktop; mobile clients use a web view that says so in its user agent.
    const inHost = window.parent !== window || /Teams\//.test(navigator.userAgent) ||
      new URLSearchParams(location.search).has("inTeams");
    if (!teams && inHost) {
      try { await loadScript(document.body.dataset.teamsSdk, 5000); teams = window.microsoftTeams; } catch (e) { /* plain browser */ }
    }
    if (!teams || !teams.authentication) return null;
    if (teams.app && typeof teams.app.initialize === "function") {
      try { await teams.app.initialize(); } catch (e) { /* already initialized */ }
    }
    return teams.authentication.getAuthToken();
  }

  function token() {
    if (!tokenPromise) tokenPromise = teamsToken().catch((e) => { console.warn("no Teams token:", e); return null; });
    return tokenPromise;
  }

  async function call(url, options = {}) {
    const headers = new Headers(options.headers || {});
    const t = await token();
    if (t) headers.set("Authorization", "Bearer " + t);
    return fetch(url, { ...options, headers, cache: "no-store", credentials: "same-origin" });
  }

  async function problemOf(resp) {
    try { return await resp.json(); } catch (e) { return { error: `${resp.status} ${resp.statusText}` }; }
  }

  function say(el, text, kind) {
    if (!el) return;
    el.textContent = text;
    el.className = kind || "";
  }

  async function load(url, target) {
    target.setAttribute("aria-busy", "true");
    const resp = await call(url);
    if (!resp.ok) {
      const p = await problemOf(resp);
      target.innerHTML = "";
      const msg = document.createElement("p");
      msg.className = "error";
      msg.setAttribute("role", "alert");
      const signIn = (await token()) ? `Sign-in needed: ${p.error}`
        : "Open this page as a tab in Microsoft Teams so that it can sign you in.";
      msg.textContent = resp.status === 401 ? signIn : p.error;
      target.appendChild(msg);
    } else {
      target.innerHTML = await resp.text();
    }
    target.setAttribute("aria-busy", "false");
    return resp.ok;
  }

  // ---- record view -------------------------------------------------------------------------------------

  function recordApi(section, action) {
    const app = section.dataset.app ? "?app=" + encodeURIComponent(section.dataset.app) : "";
    return `/api/records/${encodeURIComponent(section.dataset.type)}/${encodeURIComponent(section.dataset.id)}/${action}${app}`;
  }

  function setupRecord(root) {
    const section = $("section.record", root);
    const view = $(".record-view", root);
    if (!section || !view) return;
    const post = async (action, chatId, done) => {
      const resp = await call(recordApi(section, action), {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ chatId }),
      });
      if (!resp.ok) { say($("#record-status"), (await problemOf(resp)).error, "bad"); return; }
      const body = await resp.json();
      await start();
      say($("#record-status"), body.message || done, "good");
    };
    view.addEventListener("click", async (e) => {
      const btn = e.target.closest("button[data-act]");
      if (!btn) return;
      if (btn.dataset.act === "disconnect") await post("disconnect", btn.dataset.chat, "Chat disconnected.");
      if (btn.dataset.act === "join") await post("join", btn.dataset.chat, "You joined the chat.");
      if (btn.dataset.act === "copy") {
        try { await navigator.clipboard.writeText(btn.dataset.copy); say($("#record-status"), "Copied.", "good"); }
        catch (err) { say($("#record-status"), "Select the command and copy it.", ""); }
      }
    });
    const form = $("#connect-form", root);
    if (form) form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const typed = $("#chat-id", form) ? $("#chat-id", form).value.trim() : "";
      const picked = $("#chat-pick", form) ? $("#chat-pick", form).value : "";
      await post("connect", typed || picked, "Chat connected.");
    });
  }

  // ---- audit -------------------------------------------------------------------------------------------

  function auditQuery() {
    const params = new URLSearchParams();
    new FormData($("#audit-filters")).forEach((value, key) => {
      const v = String(value).trim();
      if (v) params.set(key, key === "until" && /^\d{4}-\d{2}-\d{2}$/.test(v) ? v + "T23:59:59.999999Z" : v);
    });
    return params.toString();
  }

  function setupAudit() {
    const form = $("#audit-filters");
    if (!form || form.dataset.ready) return;
    form.dataset.ready = "1";
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      document.body.dataset.fragment = "/tabs/audit/rows?" + auditQuery();
      await start();
    });
    $("#audit-csv").addEventListener("click", async () => {
      const resp = await call("/api/audit.csv?" + auditQuery());
      if (!resp.ok) { say($("#audit-status"), (await problemOf(resp)).error, "bad"); return; }
      const url = URL.createObjectURL(await resp.blob());
      const a = document.createElement("a");
      a.href = url;
      a.download = "connected-chats-audit.csv";
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
      say($("#audit-status"), "CSV downloaded.", "good");
    });
  }

  async function start() {
    const content = $("#content");
    const url = document.body.dataset.fragment;
    if (!content || !url) return;
    const ok = await load(url, content);
    const page = document.body.dataset.page;
    if (page === "audit") setupAudit();
    if (!ok) return;
    const setup = { ...pages, record: setupRecord }[page];
    if (setup) setup(content);
    document.dispatchEvent(new CustomEvent("connected-chats:loaded"));
  }

  // Page scripts (settings.js) register here; all are deferred, so they run before DOMContentLoaded.
  const pages = {};
  window.connectedChats = { $, $$, call, problemOf, say, pages, token, reload: start };
  if (document.readyState === "complete") start();
  else document.addEventListener("DOMContentLoaded", start);
})();
