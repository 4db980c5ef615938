// Test driver: reads one JSON request per line ({source, accounts, not_asked, recourse}), runs the compiled
// policy module in a fresh VM context and answers one JSON line with the decisions. One node
// process serves a whole test module.
"use strict";
const vm = require("vm");
const readline = require("readline");

const engines = new Map();

function engine(source) {
  let found = engines.get(source);
  if (!found) {
    const sandbox = { module: { exports: null } };
    vm.runInNewContext(source, sandbox, { timeout: 10000 });
    found = sandbox.module.exports;
    engines.clear();
    engines.set(source, found);
  }
  return found;
}

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  let answer;
  try {
    const request = JSON.parse(line);
    const clearline = engine(request.source);
    const how = request.recourse ? clearline.recourse : clearline.decide;
    answer = request.accounts.map((facts) => how(facts, { notAsked: request.not_asked || [] }));
  } catch (exc) {
    answer = { crash: String(exc && exc.stack || exc) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
});
