// Connected Chats settings page: toggles, the five-attribute limit, rules, "Add record type", save with If-Match.
// Uses the helpers admin.js exposes on window.connectedChats.
(() => {
  "use strict";
  const { $, $$, call, problemOf, say, pages, reload } = window.connectedChats;
  const MAX_WATCHED = 5;
  const MAX_RULES = 10;

  function setupType(panel) {
    const view = $("[data-key=view]", panel);
    const showView = () => {
      $$(".view-preview", panel).forEach((p) => {
        p.hidden = view.value ? p.dataset.view !== view.value : !("default" in p.dataset);
      });
    };
    view.addEventListener("change", showView);
    showView();
    const notify = $("[data-key=notify]", panel);
    const attrs = $("fieldset.attributes", panel);
    const limit = () => {
      const boxes = $$("input[data-watch]", panel);
      const picked = boxes.filter((b) => b.checked).length;
      boxes.forEach((b) => { if (!("unsupported" in b.dataset)) b.disabled = !b.checked && picked >= MAX_WATCHED; });
      say($("[data-limit-status]", panel), picked >= MAX_WATCHED
        ? `${picked} of ${MAX_WATCHED} picked: that is the most you can pick.` : `${picked} of ${MAX_WATCHED} picked.`, "hint");
    };
    notify.addEventListener("change", () => { attrs.disabled = !notify.checked; });
    panel.addEventListener("change", (e) => {
      if (e.target.matches("input[data-watch]")) limit();
      if (e.target.matches("[data-key=enabled]")) {
        const badge = $("[data-badge]", panel);
        badge.textContent = e.target.checked ? "On" : "Off";
        badge.className = "badge " + (e.target.checked ? "on" : "off");
      }
      if (e.target.matches(".rule [data-key=kind]")) {
        $(".path", e.target.closest(".rule")).hidden = e.target.value !== "lookup";
      }
    });
    limit();
    const list = $(".rule-list", panel);
    const addRule = $("[data-act=add-rule]", panel);
    const ruleCount = () => { addRule.disabled = list.children.length >= MAX_RULES; };
    panel.addEventListener("click", (e) => {
      const btn = e.target.closest("button[data-act]");
      if (!btn) return;
      const row = btn.closest(".rule");
      if (btn.dataset.act === "add-rule") {
        list.appendChild($("template[data-rule-template]", panel).content.cloneNode(true));
        $("input[data-key=name]", list.lastElementChild).focus();
      } else if (btn.dataset.act === "up" && row.previousElementSibling) {
        list.insertBefore(row, row.previousElementSibling); btn.focus();
      } else if (btn.dataset.act === "down" && row.nextElementSibling) {
        list.insertBefore(row.nextElementSibling, row); btn.focus();
      } else if (btn.dataset.act === "remove") {
        row.remove(); addRule.focus();
      }
      ruleCount();
    });
    ruleCount();
  }

  function typeSettings(panel, base) {
    const on = (key) => $(`[data-key=${key}]`, panel).checked;
    return {
      ...base,
      enabled: on("enabled"), auto_name: on("auto_name"), include_note: on("include_note"),
      view: $("[data-key=view]", panel).value || null,
      owner_can_disconnect: on("owner_can_disconnect"), connector_can_disconnect: on("connector_can_disconnect"),
      join_chat: on("join_chat"), notify: on("notify"),
      watched: $$("input[data-watch]:checked", panel).map((b) => b.value),
      lifecycle: {
        reassign_notice: on("life_reassign_notice"), reassign_add: $("[data-key=life_reassign_add]", panel).value,
        reassign_message_owner: on("life_reassign_message_owner"), close_notice: on("life_close_notice"),
        close_disconnect: on("life_close_disconnect"), reopen_notice: on("life_reopen_notice"),
      },
      similar_contacts: on("similar_contacts"),
      similar_first: $("[data-key=similar_first]", panel).value === "true",
      similar_lookback_days: Number($("[data-key=similar_lookback_days]", panel).value),
      similar_threshold: Number($("[data-key=similar_threshold]", panel).value),
      similar_fields: $$("input[data-similar]:checked", panel).map((b) => b.value),
      contact_rules: $$(".rule", panel).map((r) => {
        const kind = $("[data-key=kind]", r).value;
        const path = $("[data-key=path]", r).value.split(/[.,>\s]+/).filter(Boolean);
        return { name: $("[data-key=name]", r).value.trim(), kind, path: kind === "lookup" ? path : [] };
      }),
    };
  }

  function collect(form) {
    const base = JSON.parse($("#settings-data", form).textContent);
    const members = {};
    const profiles = {};
    $$("#profile-rows .profile", form).forEach((row) => {
      const name = $("[data-key=name]", row).value.trim();
      if (!name) return;
      profiles[name] = $("[data-key=on]", row).checked;
      const ids = $$(".chips li[data-id]", row).map((li) => li.dataset.id);
      if (ids.length) members[name] = ids;
    });
    const source = $("input[name=profile_source]:checked", form);
    const orgBoxes = $$("input[data-org-profile]", form);
    // Only the types shown: a configured type the record source no longer knows is dropped (no new chats).
    const types = {};
    $$("details.rtype", form).forEach((panel) => {
      types[panel.dataset.type] = typeSettings(panel, base.record_types[panel.dataset.type] || {});
    });
    return {
      ...base,
      teams_chat_enabled: $("#teams_chat_enabled", form).checked,
      all_apps: $("#all_apps-yes", form).checked,
      known_apps: $$("input[data-app]", form).map((b) => b.value),
      enabled_apps: $$("input[data-app]:checked", form).map((b) => b.value),
      profiles, profile_members: members,
      profile_source: source ? source.value : base.profile_source,
      // Every listed org profile is saved with its switch; when Dataverse could not list them, as saved before.
      org_profiles: orgBoxes.length ? Object.fromEntries(orgBoxes.map((b) => [b.dataset.orgProfile, b.checked]))
        : base.org_profiles,
      // With Dataverse the list is read-only (security roles grant it), so the stored list is kept as it is.
      disconnect_roles: $("#role-list", form) ? $$("input[data-role]:checked", form).map((b) => b.value)
        : base.disconnect_roles,
      timeline_sync: $("#timeline_sync", form).checked,
      record_types: types,
    };
  }

  function pointAt(form, field) {
    $$("[aria-invalid=true]", form).forEach((el) => el.removeAttribute("aria-invalid"));
    let path = field || "";
    let el = null;
    while (path && !(el = form.querySelector(`[data-field="${CSS.escape(path)}"]`))) {
      path = path.replace(/(\[\d+\]|\.[^.[]*)$/, "");
    }
    if (!el) return;
    el.setAttribute("aria-invalid", "true");
    const details = el.closest("details");
    if (details) details.open = true;
    el.scrollIntoView({ block: "center" });
    const focusable = el.matches("input, select, button") ? el : $("input, select, button", el);
    if (focusable) focusable.focus();
  }

  function addCheck(container, attr, value) {
    const label = document.createElement("label");
    label.className = "check";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.setAttribute(attr, "");
    box.value = value;
    box.checked = true;
    label.append(box, " " + value);
    container.appendChild(label);
  }

  function chip(list, id, name) {
    if ($$("li[data-id]", list).some((li) => li.dataset.id === id)) return;
    const li = document.createElement("li");
    li.dataset.id = id;
    li.append(`${name} `);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.dataset.act = "remove-member";
    remove.setAttribute("aria-label", `Remove ${name}`);
    remove.textContent = "✕";
    li.append(remove);
    list.append(li);
  }

  async function findPerson(cell, status) {
    // Profiles pick people by name from the CRM's directory; the stored value stays the user's id.
    const text = $("[data-key=person]", cell).value.trim();
    const results = $(".person-results", cell);
    if (text.length < 2) { say(status, "Type at least two letters of the person's name or email.", "bad"); return; }
    const resp = await call("/api/people/search?q=" + encodeURIComponent(text));
    if (!resp.ok) { say(status, (await problemOf(resp)).error, "bad"); return; }
    const people = (await resp.json()).people;
    results.replaceChildren(...people.map((p) => {
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.act = "pick-person";
      b.dataset.id = p.id;
      b.dataset.name = p.name;
      b.textContent = p.email ? `${p.name} (${p.email})` : p.name;
      return b;
    }));
    if (!people.length) say(status, `Nobody in the CRM matches "${text}".`, "bad");
  }

  async function searchTypes(form, status) {
    // Any table of the CRM (EntityDefinitions with Dataverse) can be added, not only the offered ones.
    const text = $("#type-search", form).value.trim();
    if (text.length < 2) { say(status, "Type at least two letters of the table's name.", "bad"); return; }
    const resp = await call("/api/record-types/search?q=" + encodeURIComponent(text));
    if (!resp.ok) { say(status, (await problemOf(resp)).error, "bad"); return; }
    const configured = new Set($$("details.rtype", form).map((p) => p.dataset.type));
    const tables = (await resp.json()).tables.filter((t) => !configured.has(t.logical_name));
    const select = $("#add-type", form);
    select.replaceChildren(...tables.map((t) => new Option(`${t.display_name} (${t.logical_name})`, t.logical_name)));
    $("#add-type-row", form).hidden = !tables.length;
    say(status, tables.length ? `${tables.length} table(s) found: choose one and press Add record type.`
      : "No table with a primary name matches.", tables.length ? "" : "bad");
  }

  async function addType(form, status) {
    const select = $("#add-type", form);
    const name = select.value;
    if (!name) return;
    const resp = await call("/tabs/admin/type?type=" + encodeURIComponent(name));
    if (!resp.ok) { say(status, (await problemOf(resp)).error, "bad"); return; }
    const holder = document.createElement("div");
    holder.innerHTML = await resp.text();
    const panel = holder.firstElementChild;
    $("#type-list", form).appendChild(panel);
    setupType(panel);
    select.querySelector(`option[value="${CSS.escape(name)}"]`).remove();
    if (!select.options.length) $("#add-type-row", form).hidden = true;
    $("summary", panel).focus();
    say(status, `${$(".name", panel).textContent} added. Save to keep it.`, "");
  }

  function setupAdmin(root) {
    const form = $("#settings-form", root);
    if (!form) return;
    const status = $("#save-status", form);
    $$("details.rtype", form).forEach(setupType);
    const syncApps = () => {
      const all = $("#all_apps-yes", form).checked;
      $$("input[data-app]", form).forEach((b) => { b.disabled = all; });
    };
    $$("input[name=all_apps]", form).forEach((r) => r.addEventListener("change", syncApps));
    const syncProfiles = () => {  // one source of profiles at a time: show the one that decides
      const org = $("#profile_source-org", form);
      if (!org) return;
      $("#org-profiles", form).hidden = !org.checked;
      $("#page-profiles", form).hidden = org.checked;
    };
    $$("input[name=profile_source]", form).forEach((r) => r.addEventListener("change", syncProfiles));
    form.addEventListener("input", () => say(status, "Unsaved changes.", ""));
    form.addEventListener("keydown", (e) => {  // Enter in a person finder finds; it must not save the form
      if (e.key === "Enter" && e.target.matches("[data-key=person]")) {
        e.preventDefault();
        findPerson(e.target.closest("td"), status);
      }
    });
    const search = $("#type-search", form);
    if (search) {
      search.addEventListener("keydown", (e) => {  // Enter searches; it must not submit (save) the form
        if (e.key === "Enter") { e.preventDefault(); searchTypes(form, status); }
      });
    }
    form.addEventListener("click", async (e) => {
      const btn = e.target.closest("button[data-act]");
      if (!btn) return;
      const act = btn.dataset.act;
      if (act === "add-app" || act === "add-role") {
        const input = $(act === "add-app" ? "#new-app" : "#new-role", form);
        const value = input.value.trim();
        const list = $(act === "add-app" ? "#app-list" : "#role-list", form);
        const attr = act === "add-app" ? "data-app" : "data-role";
        if (value && !$$(`input[${attr}]`, list).some((b) => b.value === value)) addCheck(list, attr, value);
        input.value = "";
        syncApps();
      } else if (act === "add-profile") {
        $("#profile-rows", form).appendChild($("#profile-template", form).content.cloneNode(true));
        $("#profile-rows tr:last-child input", form).focus();
      } else if (act === "remove-row") {
        btn.closest("tr").remove();
      } else if (act === "add-type") {
        await addType(form, status);
      } else if (act === "search-types") {
        await searchTypes(form, status);
      } else if (act === "find-person") {
        await findPerson(btn.closest("td"), status);
      } else if (act === "pick-person") {
        const cell = btn.closest("td");
        chip($(".chips", cell), btn.dataset.id, btn.dataset.name);
        $(".person-results", cell).replaceChildren();
        $("[data-key=person]", cell).value = "";
        say(status, "Unsaved changes.", "");
      } else if (act === "remove-member") {
        btn.closest("li").remove();
        say(status, "Unsaved changes.", "");
      } else if (act === "reload") {
        await reload();
      }
    });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const save = $("#save", form);
      save.disabled = true;
      say(status, "Saving…", "");
      try {
        const resp = await call("/api/settings", {
          method: "PUT", body: JSON.stringify(collect(form)),
          headers: { "Content-Type": "application/json", "If-Match": `"${form.dataset.etag}"` },
        });
        if (resp.ok) {
          form.dataset.etag = (resp.headers.get("ETag") || "").replace(/^W\//, "").replace(/"/g, "");
          $("#settings-data", form).textContent = JSON.stringify(await resp.json());
          $$("[aria-invalid=true]", form).forEach((el) => el.removeAttribute("aria-invalid"));
          say(status, "Saved. The bot uses the new settings now.", "good");
          return;
        }
        const p = await problemOf(resp);
        if (resp.status === 412) {
          say(status, "Someone else saved these settings after you opened them. Discard your changes to load theirs, then make your change again.", "bad");
        } else {
          say(status, `Not saved: ${p.error}`, "bad");
          pointAt(form, p.field);
        }
      } finally {
        save.disabled = false;
      }
    });
  }

  pages.admin = setupAdmin;
})();
