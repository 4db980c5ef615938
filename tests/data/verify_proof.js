// Verify a Clearline inclusion proof with node's standard library only (RFC 9162 §2.1.3.2).
const crypto = require("crypto");
const fs = require("fs");
const proof = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const sha = (...parts) => crypto.createHash("sha256").update(Buffer.concat(parts)).digest();
// the record's hash: SHA-256 of "seq\nprev_hash\ncontent"
const recordHash = sha(Buffer.from(`${proof.seq}\n${proof.prev_hash}\n${proof.content}`, "utf8"));
if (recordHash.toString("hex") !== proof.record_hash) throw new Error("record hash differs");
let r = sha(Buffer.from([0]), recordHash); // the leaf
let fn = proof.leaf_index, sn = proof.tree_size - 1;
for (const hex of proof.audit_path) {
  const p = Buffer.from(hex, "hex");
  if (sn === 0) throw new Error("path too long");
  if (fn % 2 === 1 || fn === sn) {
    r = sha(Buffer.from([1]), p, r);
    while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
  } else {
    r = sha(Buffer.from([1]), r, p);
  }
  fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
}
const root = Buffer.from(proof.checkpoint.split("\n")[2], "base64");
if (sn !== 0 || !r.equals(root)) throw new Error("the proof does not lead to the checkpoint's root");
console.log("ok");
