// Clearline decision runtime: the fixed part of every compiled policy module.
// It holds no policy text; the policy arrives as the data block POLICY and the generated
// functions RULES and EXEMPTIONS. Semantics are those of clearline.engine.decisions.decide:
// missing facts are unknown (Kleene logic), a rule fires only when its condition is true,
// exemptions may lengthen notice or lighten an action, reasons rank by precedence, then the
// harsher limit reduction, then file order.
"use strict";

// The value of a missing fact inside conditions.
var M = undefined;

function isMissing(v) { return v === undefined; }

// Strings compare by code point, as Python does (JavaScript's < compares UTF-16 units).
function order(a, b) {
  if (typeof a === "string" && typeof b === "string") {
    var x = Array.from(a), y = Array.from(b);
    for (var i = 0; i < Math.min(x.length, y.length); i++) {
      var d = x[i].codePointAt(0) - y[i].codePointAt(0);
      if (d !== 0) { return d; }
    }
    return x.length - y.length;
  }
  return a < b ? -1 : (a > b ? 1 : 0);
}

function known(a, b) { return !isMissing(a) && !isMissing(b); }
function EQ(a, b) { return known(a, b) ? a === b : null; }
function NE(a, b) { return known(a, b) ? a !== b : null; }
function LT(a, b) { return known(a, b) ? order(a, b) < 0 : null; }
function LE(a, b) { return known(a, b) ? order(a, b) <= 0 : null; }
function GT(a, b) { return known(a, b) ? order(a, b) > 0 : null; }
function GE(a, b) { return known(a, b) ? order(a, b) >= 0 : null; }
function IN(a, set) { return isMissing(a) ? null : set.indexOf(a) >= 0; }
function NOT_IN(a, set) { return isMissing(a) ? null : set.indexOf(a) < 0; }
function BETWEEN(a, range) {
  return isMissing(a) ? null : order(a, range[0]) >= 0 && order(a, range[1]) <= 0;
}
function AND(parts) {
  if (parts.indexOf(false) >= 0) { return false; }
  return parts.indexOf(null) >= 0 ? null : true;
}
function OR(parts) {
  if (parts.indexOf(true) >= 0) { return true; }
  return parts.indexOf(null) >= 0 ? null : false;
}
function NOT(part) { return part === null ? null : !part; }

function pad(n, width) {
  var s = String(n);
  while (s.length < width) { s = "0" + s; }
  return s;
}

var DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
var DATETIME_RE = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6}))?)?(?:(Z|z)|([+-])(\d{2}):?(\d{2}))?$/;

function validDay(y, m, d) {
  var t = new Date(Date.UTC(2000, m - 1, d));
  t.setUTCFullYear(y);
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d;
}

// A checked value, or {problem: text}.
function coerce(fact, raw, range) {
  var t = fact.type;
  if (t === "boolean") {
    if (typeof raw === "boolean") { return raw; }
  } else if (t === "integer") {
    if (typeof raw === "number" && Number.isInteger(raw)) { return raw === 0 ? 0 : raw; }
  } else if (t === "number") {
    if (typeof raw === "number" && isFinite(raw)) { return raw === 0 ? 0 : raw; }
  } else if (t === "enum") {
    if (typeof raw === "string") {
      return fact.values.indexOf(raw) >= 0 ? raw : { problem: "is not one of " + fact.values.join(", ") };
    }
  } else if (t === "string") {
    if (typeof raw === "string") {
      if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(^|[^\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(raw)) {
        return { problem: "text with a lone surrogate is not valid Unicode" };
      }
      return raw;
    }
  } else if (t === "date") {
    var m = typeof raw === "string" ? DATE_RE.exec(raw) : null;
    if (m && validDay(+m[1], +m[2], +m[3])) {
      return raw < range[0] || raw > range[1] ? { problem: "is outside the dates Clearline reads" } : raw;
    }
    if (typeof raw === "string") { return { problem: "is not a date (YYYY-MM-DD)" }; }
  } else if (t === "datetime") {
    var d = typeof raw === "string" ? DATETIME_RE.exec(raw) : null;
    if (d && validDay(+d[1], +d[2], +d[3]) && +d[4] < 24 && +d[5] < 60 && +(d[6] || 0) < 60) {
      if (!d[8] && !d[9]) { return { problem: "has no UTC offset" }; }
      var day = d[1] + "-" + d[2] + "-" + d[3];
      if (day < range[0] || day > range[1]) { return { problem: "is outside the dates Clearline reads" }; }
      var offset = d[9] ? (d[9] === "-" ? -1 : 1) * (60 * +d[10] + +d[11]) : 0;
      var ms = new Date(Date.UTC(2000, +d[2] - 1, +d[3], +d[4], +d[5], +(d[6] || 0)));
      ms.setUTCFullYear(+d[1]);
      var utc = new Date(ms.getTime() - offset * 60000);
      var micro = (d[7] || "").slice(0, 6);
      while (micro.length < 6) { micro += "0"; }
      return pad(utc.getUTCFullYear(), 4) + "-" + pad(utc.getUTCMonth() + 1, 2) + "-" +
        pad(utc.getUTCDate(), 2) + "T" + pad(utc.getUTCHours(), 2) + ":" +
        pad(utc.getUTCMinutes(), 2) + ":" + pad(utc.getUTCSeconds(), 2) + "." + micro + "Z";
    }
    if (typeof raw === "string") { return { problem: "is not a date-time with a UTC offset" }; }
  }
  return { problem: "expected " + t + ", got " + JSON.stringify(raw) };
}

function makeEngine(policy, rules, exemptions, cures) {
  var facts = policy.facts;
  var L = policy.literals;

  function rank(action) {
    var i = policy.precedence.indexOf(action);
    return i < 0 ? policy.precedence.length : i;
  }

  function rankKey(r, action) {
    var factor = action === "reduce_limit" ? policy.rules[r].limit_factor : null;
    return [rank(action), factor === null ? 1.0 : factor, r];
  }

  function compareKeys(a, b) {
    for (var i = 0; i < a.length; i++) {
      if (a[i] !== b[i]) { return a[i] < b[i] ? -1 : 1; }
    }
    return 0;
  }

  // Facts (a plain object, JSON-like) to checked values by index, missing names, problems.
  function check(input) {
    var problems = [];
    if (input === null || typeof input !== "object" || Array.isArray(input)) {
      return { problems: [{ fact: "", code: "F000", message: "facts must be an object" }] };
    }
    var names = facts.map(function (f) { return f.name; });
    Object.keys(input).forEach(function (name) {
      if (names.indexOf(name) < 0) {
        problems.push({ fact: name, code: "F001", message: "unknown fact `" + name + "`" });
      }
    });
    var F = [], missing = [];
    facts.forEach(function (fact, i) {
      var raw = Object.prototype.hasOwnProperty.call(input, fact.name) ? input[fact.name] : null;
      if (raw === null || raw === undefined) {
        if (fact.on_missing === "error") {
          problems.push({ fact: fact.name, code: "F002", message: "required fact `" + fact.name + "` is missing" });
        }
        missing.push(fact.name);
        F.push(M);
        return;
      }
      var value = coerce(fact, raw, policy.date_range);
      if (value !== null && typeof value === "object") {
        problems.push({ fact: fact.name, code: "F003", message: "fact `" + fact.name + "` " + value.problem });
        F.push(M);
        return;
      }
      if ((fact.minimum !== null && order(value, fact.minimum) < 0) ||
          (fact.maximum !== null && order(value, fact.maximum) > 0)) {
        problems.push({ fact: fact.name, code: "F003", message: "fact `" + fact.name + "` is out of range" });
        F.push(M);
        return;
      }
      F.push(value);
    });
    return { F: F, missing: missing, problems: problems };
  }

  // The exemptions of a fired rule's grace rule that apply: [action, extra days, ids] or null.
  function adjustment(r, F) {
    var rule = policy.rules[r];
    if (rule.grace_index === null) { return null; }
    var grace = policy.grace[rule.grace_index];
    var action = rule.action, extra = 0, ids = [];
    exemptions[rule.grace_index].forEach(function (fn, j) {
      if (fn(F, L) !== true) { return; }
      var exemption = grace.exemptions[j];
      ids.push(exemption.id);
      extra = Math.max(extra, exemption.extend_notice_days);
      if (exemption.downgrade_to !== null && rank(exemption.downgrade_to) > rank(action)) {
        action = exemption.downgrade_to;
      }
    });
    return ids.length ? [action, extra, ids] : null;
  }

  // The grace terms of the deciding reason: notice, cure and review windows in days.
  function terms(graceName, extra) {
    var grace = null;
    policy.grace.forEach(function (g) { if (g.name === graceName) { grace = g; } });
    if (grace === null) {
      return { grace: null, immediate: true, notice_days: 0, notice_months: 0, extra_days: 0,
        cure_days: null, appeal_days: null, pauses_action: false, review_max_days: null };
    }
    // With notice in months, notice_days holds the exemption days added to the months.
    var notice = grace.immediate ? 0 : grace.notice_days + extra;
    return {
      grace: grace.name,
      immediate: grace.immediate || (notice === 0 && !grace.notice_months),
      notice_days: notice,
      notice_months: grace.immediate ? 0 : grace.notice_months,
      extra_days: grace.immediate ? 0 : extra,
      cure_days: grace.cure_days === null ? null : grace.cure_days + extra,
      appeal_days: grace.appeal_days === null ? null : grace.appeal_days + extra,
      pauses_action: grace.pauses_action,
      review_max_days: grace.review_max_days,
    };
  }

  // Decide one account: the same action, ranked reasons and missing facts as decide().
  // `options.notAsked`: facts the caller could not ask for; their absence sends no one to review.
  function decide(input, options) {
    var checked = check(input);
    if (checked.problems.length) { return { error: true, problems: checked.problems }; }
    var F = checked.F;
    var notAsked = (options && options.notAsked) || [];
    var matches = rules.map(function (fn) { return fn(F, L); });
    var fired = [], adjust = {};
    matches.forEach(function (m, r) {
      if (m !== true) { return; }
      fired.push(r);
      var a = adjustment(r, F);
      if (a !== null) { adjust[r] = a; }
    });
    var entries = fired.map(function (r) {
      var rule = policy.rules[r];
      var action = adjust[r] ? adjust[r][0] : rule.action;
      var reason = {
        rule: rule.id, code: rule.code, action: action, rule_action: rule.action,
        limit_factor: action === "reduce_limit" ? rule.limit_factor : null,
        grace: rule.grace, exemptions: adjust[r] ? adjust[r][2] : [], facts: [],
        extra_days: adjust[r] ? adjust[r][1] : 0, index: r,
      };
      return [rankKey(r, action), reason];
    });
    var reviewMissing = checked.missing.filter(function (name) {
      var fact = facts.filter(function (f) { return f.name === name; })[0];
      return fact.on_missing === "review" && notAsked.indexOf(name) < 0;
    });
    if (reviewMissing.length) {
      entries.push([[rank("review"), 1.0, policy.rules.length], {
        rule: policy.missing.rule, code: policy.missing.review_code, action: "review",
        rule_action: "review", limit_factor: null, grace: policy.missing.review_grace,
        exemptions: [], facts: reviewMissing, extra_days: 0, index: null,
      }]);
    }
    entries.sort(function (a, b) { return compareKeys(a[0], b[0]); });
    var reasons = entries.map(function (e, i) { e[1].rank = i + 1; return e[1]; });
    var action = "none";
    if (reasons.length) { action = reasons[0].action; }
    var top = reasons.length ? reasons[0] : null;
    return {
      error: false,
      action: action,
      limit_factor: action === "reduce_limit" ? top.limit_factor : null,
      reasons: reasons,
      missing_facts: checked.missing,
      terms: top === null ? null : terms(top.grace, top.extra_days),
      unknown_rules: matches.map(function (m, r) { return m === null ? r : -1; })
        .filter(function (r) { return r >= 0; }),
    };
  }

  // -- recourse: the search of disclosures/recourse.py (recourse_for), on the same bounds ----

  var ADVERSE = ["close", "suspend", "reduce_limit"];
  function adverse(action) { return ADVERSE.indexOf(action) >= 0; }

  // math.nextafter for doubles.
  function nextafter(x, up) {
    if (x === 0) { return up ? Number.MIN_VALUE : -Number.MIN_VALUE; }
    var f = new Float64Array([x]), b = new BigInt64Array(f.buffer);
    b[0] += (x > 0) === up ? 1n : -1n;
    return f[0];
  }

  function addDays(iso, n) {
    var t = new Date(Date.UTC(2000, +iso.slice(5, 7) - 1, +iso.slice(8, 10) + n));
    t.setUTCFullYear(+iso.slice(0, 4) + t.getUTCFullYear() - 2000);
    return pad(t.getUTCFullYear(), 4) + "-" + pad(t.getUTCMonth() + 1, 2) + "-" + pad(t.getUTCDate(), 2);
  }

  function dayNumber(iso) { return Date.UTC(+iso.slice(0, 4), +iso.slice(5, 7) - 1, +iso.slice(8, 10)) / 86400000; }

  function around(fact, point) {
    if (fact.type === "integer") {
      if (!Number.isInteger(point)) { return [Math.floor(point), Math.ceil(point)]; }
      return [point - 1, point, point + 1];
    }
    if (fact.type === "number") { return [point, nextafter(point, false), nextafter(point, true)]; }
    if (fact.type === "date") { return [addDays(point, -1), point, addDays(point, 1)]; }
    return [];  // date-times: no candidates in the page (a microsecond has no JavaScript Date)
  }

  function distance(value, observed) {
    if (fact_is_date(value)) { return Math.abs(dayNumber(value) - dayNumber(observed)); }
    return Math.abs(value - observed);
  }
  function fact_is_date(value) { return typeof value === "string" && DATE_RE.test(value); }

  function relative(value, observed) {
    var d = distance(value, observed);
    return typeof observed === "number" ? d / Math.max(Math.abs(observed), 1) : d;
  }

  // Fact.can_move: only in the direction the policy declares helps the customer.
  function canMove(fact, observed, value) {
    var way = fact.actionable || "either";
    if (way === "no" || observed === undefined) { return false; }
    if (way === "either" || typeof observed === "string") { return observed !== value; }
    return way === "decrease" ? value < observed : value > observed;
  }

  function candidates(fact, values) {
    if (fact.type === "boolean") { return [false, true]; }
    if (fact.type === "enum") { return fact.values.slice(); }
    if (fact.type !== "integer" && fact.type !== "number" && fact.type !== "date") { return []; }
    var points = fact.points.values.slice();
    fact.points.facts.forEach(function (name) {
      if (values[name] !== undefined && values[name] !== null) { points.push(values[name]); }
    });
    var found = [];
    points.forEach(function (point) {
      around(fact, point).forEach(function (c) {
        if ((fact.minimum !== null && order(c, fact.minimum) < 0) ||
            (fact.maximum !== null && order(c, fact.maximum) > 0)) { return; }
        if (found.indexOf(c) < 0) { found.push(c); }
      });
    });
    return found;
  }

  // recourse_for: null for a decision that restricts nothing; else {blocked: [codes]} when some
  // reason reads no fact the customer can change, or {change: {fact: value}} (the smallest set,
  // up to 3, that lifts the whole decision and cures its top reason), or {} when none does.
  function recourse(input, options) {
    var decision = decide(input, options);
    if (decision.error || !adverse(decision.action)) { return null; }
    var values = {};
    Object.keys(input).forEach(function (k) { if (input[k] !== null && input[k] !== undefined) { values[k] = input[k]; } });
    var byName = {};
    facts.forEach(function (f) { byName[f.name] = f; });
    function movable(name) {
      var fact = byName[name];
      return fact !== undefined && values[name] !== undefined && fact.actionable !== "no";
    }
    var blocked = decision.reasons.filter(function (reason) {
      return adverse(reason.action) && reason.index !== null &&
        !policy.rule_facts[reason.index].some(movable);
    }).map(function (reason) { return reason.code; });
    if (blocked.length) { return { blocked: blocked }; }
    if (!decision.terms || decision.terms.cure_days === null) { return {}; }
    var names = [], choices = {};
    policy.rules.forEach(function (rule, r) {
      if (!adverse(rule.action)) { return; }
      policy.rule_facts[r].forEach(function (name) {
        if (names.indexOf(name) >= 0 || !movable(name)) { return; }
        var fact = byName[name], observed = values[name];
        var found = candidates(fact, values).filter(function (c) { return canMove(fact, observed, c); });
        if (!found.length) { return; }
        found.sort(function (a, b) {
          return distance(a, observed) - distance(b, observed) || order(a, b);
        });
        names.push(name);
        choices[name] = found.slice(0, policy.recourse.per_fact);
      });
    });
    var top = decision.reasons[0];
    var graceIndex = policy.rules[top.index].grace_index;
    var cure = graceIndex === null ? null : cures[graceIndex];
    function lifted(changed) {
      var after = decide(changed, options);
      return !after.error && !adverse(after.action);
    }
    function cured(changed) {
      var checked = check(changed);
      if (checked.problems.length) { return false; }
      return cure ? cure(checked.F, L) === true : rules[top.index](checked.F, L) === false;
    }
    var tried = 0, budget = policy.recourse.budget;
    for (var size = 1; size <= Math.min(policy.recourse.most_changes, names.length); size++) {
      var found = [];
      combinations(names, size).forEach(function (chosen) {
        product(chosen.map(function (n) { return choices[n]; })).forEach(function (point) {
          tried += 1;
          if (tried > budget) { return; }
          var changed = Object.assign({}, input), change = {}, cost = 0;
          chosen.forEach(function (n, i) { changed[n] = point[i]; change[n] = point[i]; });
          if (lifted(changed)) {
            chosen.forEach(function (n) { cost += relative(change[n], values[n]); });
            found.push([cost, change, changed]);
          }
        });
      });
      found.sort(function (a, b) { return a[0] - b[0]; });  // stable, as Python's sorted
      for (var i = 0; i < found.length; i++) {
        if (cured(found[i][2])) { return { change: found[i][1], cure_days: decision.terms.cure_days }; }
      }
    }
    return {};
  }

  function combinations(items, size) {
    if (size === 0) { return [[]]; }
    var out = [];
    for (var i = 0; i <= items.length - size; i++) {
      combinations(items.slice(i + 1), size - 1).forEach(function (rest) { out.push([items[i]].concat(rest)); });
    }
    return out;
  }

  function product(lists) {
    var out = [[]];
    lists.forEach(function (list) {
      var next = [];
      out.forEach(function (prefix) { list.forEach(function (v) { next.push(prefix.concat([v])); }); });
      out = next;
    });
    return out;
  }

  return { decide: decide, recourse: recourse, rank: rank, policy: policy };
}
