// Self-check page: reads the form, decides with the compiled policy module (`clearline`) and
// writes the result panel. Every text comes from the JSON data block; nothing is sent anywhere.
"use strict";
(function () {
  var DATA = JSON.parse(document.getElementById("selfcheck-data").textContent);
  var ADVERSE = ["close", "suspend", "reduce_limit"];

  function fill(pattern, values) {
    return pattern.replace(/\{(\w+)\}/g, function (all, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : all;
    });
  }

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = text; }
    if (cls) { node.className = cls; }
    return node;
  }

  function actionText(texts, lang, action, factor) {
    var pattern = texts.actions[action] || action;
    var shown = factor === null || factor === undefined ? "" :
      new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 3 }).format(factor);
    return fill(pattern, { factor: shown });
  }

  // The facts a form holds, as the JSON `decide` reads; invalid fields listed.
  function readForm(form) {
    var facts = {}, invalid = [];
    form.querySelectorAll("[data-fact]").forEach(function (field) {
      var name = field.getAttribute("data-fact"), raw = field.value.trim();
      field.removeAttribute("aria-invalid");
      if (raw === "") { return; }
      var kind = field.getAttribute("data-kind");
      if (field.tagName === "SELECT") {
        facts[name] = raw === "true" ? true : (raw === "false" ? false : raw);
      } else if (kind === "number") {
        var n = Number(raw);
        if (!isFinite(n) || field.validity.badInput) { invalid.push(field); return; }
        facts[name] = DATA.percent.indexOf(name) >= 0 ? n / 100 : n;
      } else if (kind === "datetime") {
        var t = new Date(raw);
        if (isNaN(t.getTime())) { invalid.push(field); return; }
        facts[name] = t.toISOString();
      } else {
        facts[name] = raw;
      }
    });
    return { facts: facts, invalid: invalid };
  }

  function decide(facts) { return clearline.decide(facts, { notAsked: DATA.not_asked }); }

  // "What would change it": the compiled module's recourse search, the same as the notices'
  // (disclosures/recourse.py): up to three changes the customer can make, each in the helping
  // direction, that lift the whole decision.
  function recourse(facts) { return clearline.recourse(facts, { notAsked: DATA.not_asked }); }

  // A value as the customer reads it; a float one step from a threshold reads "less than 90%".
  function valueText(texts, lang, name, value, observed) {
    var labels = texts.values[name] || {};
    if (Object.prototype.hasOwnProperty.call(labels, String(value))) { return labels[String(value)]; }
    if (typeof value !== "number") { return String(value); }
    var percent = DATA.percent.indexOf(name) >= 0;
    var shown = Number(value.toFixed(6)), near = shown !== value && Math.abs(shown - value) < 1e-9;
    var text = new Intl.NumberFormat(lang, percent ? { style: "percent", maximumFractionDigits: 4 } :
      { maximumFractionDigits: 6 }).format(near ? shown : value);
    if (!near) { return text; }
    return fill(value < observed ? texts.words.less_than : texts.words.more_than, { value: text });
  }

  function termsList(words, terms) {
    var items = [];
    if (terms.immediate) {
      items.push(words.terms_immediate);
    } else if (terms.notice_months) {
      items.push(terms.notice_days ?
        fill(words.terms_notice_months_days, { months: terms.notice_months, days: terms.notice_days }) :
        fill(words.terms_notice_months, { months: terms.notice_months }));
    } else {
      items.push(fill(words.terms_notice, { days: terms.notice_days }));
    }
    if (terms.cure_days !== null) { items.push(fill(words.terms_cure, { days: terms.cure_days })); }
    if (terms.appeal_days !== null) {
      items.push(fill(words.terms_appeal, { days: terms.appeal_days }));
      if (terms.pauses_action && !terms.immediate) { items.push(words.terms_paused); }
      if (terms.review_max_days !== null) { items.push(fill(words.terms_review_max, { days: terms.review_max_days })); }
    }
    return items;
  }

  function list(tag, items) {
    var node = el(tag);
    items.forEach(function (item) {
      var li = el("li");
      if (typeof item === "string") { li.textContent = item; } else { item.forEach(function (n) { li.appendChild(n); }); }
      node.appendChild(li);
    });
    return node;
  }

  function render(page) {
    var lang = page.getAttribute("data-lang"), texts = DATA.texts[lang], words = texts.words;
    var body = page.querySelector(".result-body"), form = page.querySelector("form.facts");
    var read = readForm(form);
    body.textContent = "";
    if (read.invalid.length) {
      read.invalid.forEach(function (field) {
        field.setAttribute("aria-invalid", "true");
        var label = page.querySelector("label[for='" + field.id + "']");
        body.appendChild(el("p", fill(words.invalid, { label: label ? label.textContent : "" }), "invalid"));
      });
      return;
    }
    var decision = decide(read.facts);
    if (decision.error) {
      decision.problems.forEach(function (problem) {
        body.appendChild(el("p", fill(words.invalid, { label: texts.labels[problem.fact] || problem.fact }), "invalid"));
      });
      return;
    }
    body.setAttribute("data-action", decision.action);
    if (decision.action === "none") {
      body.appendChild(el("p", words.result_none, "action"));
    } else {
      var adverse = ADVERSE.indexOf(decision.action) >= 0;
      body.appendChild(el("p", fill(words.result_action, {
        action: actionText(texts, lang, decision.action, decision.limit_factor) }), adverse ? "action adverse" : "action"));
      body.appendChild(el("h3", words.reasons_heading));
      body.appendChild(list("ol", decision.reasons.map(function (reason) {
        var parts = [el("span", texts.reasons[reason.rule] || reason.code, "reason")];
        parts[0].setAttribute("data-rule", reason.rule);
        var advice = texts.advice[reason.rule];
        if (advice) { parts.push(el("br"), el("span", fill(words.advice, { advice: advice }), "advice")); }
        reason.exemptions.forEach(function (id) {
          if (texts.exemptions[id]) { parts.push(el("br"), el("span", fill(words.exempted, { text: texts.exemptions[id] }), "advice")); }
        });
        return parts;
      })));
      if (adverse && decision.terms) {
        body.appendChild(el("h3", words.terms_heading));
        body.appendChild(list("ul", termsList(words, decision.terms)));
      }
      var found = adverse ? recourse(read.facts) : null;
      if (found) { body.appendChild(el("h3", words.change_heading)); }
      if (found && found.change) {
        body.appendChild(el("p", fill(words.change_intro, { days: found.cure_days })));
        body.appendChild(list("ul", Object.keys(found.change).map(function (name) {
          var value = found.change[name];
          var item = el("span", fill(words.change_item, {
            label: texts.labels[name], value: valueText(texts, lang, name, value, read.facts[name]) }));
          item.setAttribute("data-fact", name);
          item.setAttribute("data-value", JSON.stringify(value));
          return [item];
        })));
      } else if (found && found.blocked) {
        body.appendChild(el("p", fill(words.change_blocked, { codes: found.blocked.join(", "), review: texts.review }), "blocked"));
      } else if (found) {
        body.appendChild(el("p", fill(words.change_none, { review: texts.review })));
      }
    }
    var unknown = decision.unknown_rules.filter(function (r) {
      return DATA.lender_rules.indexOf(r) < 0;
    });
    if (unknown.length) {
      body.appendChild(el("h3", words.unknown_heading));
      body.appendChild(list("ul", unknown.map(function (r) {
        return texts.reasons[clearline.policy.rules[r].id];
      })));
    }
  }

  // Switching language keeps the answers: each page's fields are copied by fact name.
  function switchTo(lang) {
    var from = document.querySelector(".page:not([hidden])");
    var to = document.getElementById("page-" + lang);
    if (!to || to === from) { return; }
    from.querySelectorAll("form.facts [data-fact]").forEach(function (field) {
      var twin = to.querySelector("form.facts [data-fact='" + field.getAttribute("data-fact") + "']");
      if (twin) { twin.value = field.value; }
    });
    from.hidden = true;
    to.hidden = false;
    document.documentElement.lang = lang;
    document.title = DATA.titles[lang];
    render(to);
    var button = to.querySelector(".switch");
    if (button) { button.focus(); }
  }

  document.querySelectorAll(".page").forEach(function (page) {
    var form = page.querySelector("form.facts");
    form.addEventListener("submit", function (event) { event.preventDefault(); render(page); });
    form.addEventListener("change", function () { render(page); });
    var button = page.querySelector(".switch");
    if (button) {
      button.addEventListener("click", function () { switchTo(button.getAttribute("data-switch")); });
    }
  });
})();
