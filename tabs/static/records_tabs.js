// The chat's Records tab, the personal "My records" tab and the chat tab's configuration page.
// Uses admin.js (window.connectedChats) for the token, calls and page loading; stores nothing in the browser.
(() => {
  "use strict";
  const cc = window.connectedChats;
  const page = document.body.dataset.page;
  const origin = location.origin;

  async function teamsContext() {
    await cc.token();  // inside Teams this loads and initializes the Teams JS SDK
    const teams = window.microsoftTeams;
    if (!teams || !teams.app || typeof teams.app.getContext !== "function") return null;
    try { return await teams.app.getContext(); } catch (e) { return null; }
  }

  async function chatId() {
    const given = new URLSearchParams(location.search).get("chat");
    if (given) return given;
    const context = await teamsContext();
    return (context && context.chat && context.chat.id) || "";
  }

  async function act(btn) {
    const { act, type, id, chat } = btn.dataset;
    const url = `/api/records/${encodeURIComponent(type)}/${encodeURIComponent(id)}/${act}`;
    btn.disabled = true;
    const resp = await cc.call(url, { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ chatId: chat }) });
    if (!resp.ok) {
      btn.disabled = false;
      cc.say(cc.$("#tab-status"), (await cc.problemOf(resp)).error, "bad");
      return;
    }
    const body = await resp.json();
    const done = { connect: "Record connected.", disconnect: "Record disconnected.", join: "You joined the chat." };
    await cc.reload();
    cc.say(cc.$("#tab-status"), body.message || done[act] || "Done.", "good");
  }

  async function find(root, form) {
    const results = cc.$(".found", root);
    const params = new URLSearchParams({ q: cc.$("input[name=q]", form).value });
    if (root.dataset.chat) params.set("chat", root.dataset.chat);
    results.setAttribute("aria-busy", "true");
    const resp = await cc.call("/tabs/find/panel?" + params.toString());
    if (resp.ok) results.innerHTML = await resp.text();
    else cc.say(results, (await cc.problemOf(resp)).error, "bad");
    results.setAttribute("aria-busy", "false");
    document.dispatchEvent(new CustomEvent("connected-chats:found"));
  }

  function setup(content) {
    const root = cc.$(".records-tab", content);
    if (!root) return;
    root.addEventListener("click", (e) => {
      const btn = e.target.closest("button[data-act]");
      if (btn) act(btn);
    });
    const form = cc.$(".find-form", root);
    if (form) form.addEventListener("submit", (e) => { e.preventDefault(); find(root, form); });
  }

  cc.pages.chat = setup;
  cc.pages.my = setup;

  async function openChatTab() {
    const id = await chatId();
    if (!id) {
      cc.$("#content").innerHTML = "";
      cc.say(cc.$("#content"), "Open this tab in a group chat: it shows the records connected to that chat.", "error");
      cc.$("#content").setAttribute("aria-busy", "false");
      return;
    }
    document.body.dataset.fragment = "/tabs/chat/panel?chat=" + encodeURIComponent(id);
    await cc.reload();
  }

  async function configure() {
    const content = cc.$("#content");
    content.innerHTML = "<p>This tab lists the records connected to this chat, with their key fields and other " +
      "chats, and lets chat members find and connect records. Select <strong>Save</strong> to add it.</p>";
    content.setAttribute("aria-busy", "false");
    await teamsContext();
    const config = window.microsoftTeams && window.microsoftTeams.pages && window.microsoftTeams.pages.config;
    if (!config) return;
    config.registerOnSaveHandler((event) => {
      config.setConfig({ entityId: "records", suggestedDisplayName: "Records",
        contentUrl: origin + "/tabs/chat?inTeams=1", websiteUrl: origin + "/tabs/my" })
        .then(() => event.notifySuccess(), (err) => event.notifyFailure(String(err)));
    });
    config.setValidityState(true);
  }

  if (page === "chat") document.addEventListener("DOMContentLoaded", openChatTab);
  if (page === "chatconfig") document.addEventListener("DOMContentLoaded", configure);
})();
