// Check a saved receipt with WebCrypto only (docs/registrant-page.md): the envelope's hash,
// the checkpoint's signature (C2SP signed-note, Ed25519), inclusion and consistency (RFC 9162).

import { concat } from "./hpke.js";
import { canonicalEnvelope, envelopeSha256, hex, sha256 } from "./seal.js";

const subtle = globalThis.crypto.subtle;
const encoder = new TextEncoder();
const FETCH = { credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer" };
const LOG = "/api/v1/log/";

// A failed check; `code` names the sentence the page shows.
function fail(code) {
  throw Object.assign(new Error(code), { code });
}

// Strict standard base64 with padding, or null.
function b64(text) {
  try {
    const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
    return btoa(String.fromCharCode(...bytes)) === text ? bytes : null;
  } catch {
    return null;
  }
}

function hashList(list, code) {
  if (!Array.isArray(list)) fail(code);
  return list.map((text) => {
    const h = typeof text === "string" ? b64(text) : null;
    return h?.length === 32 ? h : fail(code);
  });
}

const same = (a, b) => hex(a) === hex(b);
const node = (left, right) => sha256(concat(Uint8Array.of(1), left, right));
export const leafHash = (leaf) => sha256(concat(Uint8Array.of(0), leaf));

// The walk of RFC 9162 2.1.3.2 and 2.1.4.2: the two roots `path` leads to, or null.
async function walk(fn, sn, seed, path) {
  let [fr, sr] = [seed, seed];
  for (const c of path) {
    if (sn === 0n) return null;
    if (fn & 1n || fn === sn) {
      [fr, sr] = [await node(c, fr), await node(c, sr)];
      while (!(fn & 1n) && fn !== 0n) [fn, sn] = [fn >> 1n, sn >> 1n];
    } else {
      sr = await node(sr, c);
    }
    [fn, sn] = [fn >> 1n, sn >> 1n];
  }
  return sn === 0n ? [fr, sr] : null;
}

// Is the leaf hash `leaf` at `index` in the tree of `size` leaves with `root`?
export async function verifyInclusion(leaf, index, size, proof, root) {
  const got = index < size && (await walk(BigInt(index), BigInt(size) - 1n, leaf, proof));
  return Boolean(got) && same(got[1], root);
}

// Is the tree of `first` leaves (`firstRoot`) a prefix of the tree of `second` leaves?
export async function verifyConsistency(first, second, proof, firstRoot, secondRoot) {
  if (first < 1 || first > second) return false;
  if (first === second) return proof.length === 0 && same(firstRoot, secondRoot);
  let [fn, sn] = [BigInt(first) - 1n, BigInt(second) - 1n];
  if (proof.length === 0) return false;
  const path = fn & (fn + 1n) ? proof : [firstRoot, ...proof]; // `first` is a power of two: its root starts it
  while (fn & 1n) [fn, sn] = [fn >> 1n, sn >> 1n];
  const got = await walk(fn, sn, path[0], path.slice(1));
  return Boolean(got) && same(got[0], firstRoot) && same(got[1], secondRoot);
}

// A verifier key `<name>+<hex key ID>+<base64(0x01 || Ed25519 key)>`, its key ID checked.
export async function parseVerifier(text) {
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+(\S+)$/.exec(text.trim());
  const raw = m && b64(m[3]);
  if (raw?.length !== 33 || raw[0] !== 1) fail("network");
  const id = hex((await sha256(concat(encoder.encode(`${m[1]}\n`), raw))).subarray(0, 4));
  if (id !== m[2]) fail("network");
  try {
    const key = await subtle.importKey("raw", raw.subarray(1), { name: "Ed25519" }, false, ["verify"]);
    return { name: m[1], id, key };
  } catch (error) {
    fail(error?.name === "NotSupportedError" ? "unsupported" : "network");
  }
}

// {size, root} of a checkpoint of the log signed by `verifier` (other signatures ignored).
export async function openCheckpoint(note, verifier, code) {
  const split = typeof note === "string" && note.endsWith("\n") ? note.lastIndexOf("\n\n") : -1;
  if (split < 0) fail(code);
  const text = note.slice(0, split + 1);
  let ok = false;
  for (const line of note.slice(split + 2, -1).split("\n")) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    const blob = m && b64(m[2]);
    if (!blob || m[1] !== verifier.name || hex(blob.subarray(0, 4)) !== verifier.id) continue;
    ok = blob.length === 68 && (await subtle.verify("Ed25519", verifier.key, blob.subarray(4), encoder.encode(text)));
    if (!ok) break;
  }
  const [origin, size, root] = text.split("\n");
  const rootHash = b64(root ?? "");
  if (!ok || origin !== verifier.name || !/^(0|[1-9]\d{0,14})$/.test(size) || rootHash?.length !== 32) fail(code);
  return { size: Number(size), root: rootHash };
}

async function get(path, as) {
  let response;
  try {
    response = await fetch(LOG + path, FETCH);
    if (response.ok) return await response[as]();
  } catch {
    // unreachable or unreadable
  }
  fail("network");
}

// A saved receipt file's text, checked against the log now: {seq, size, current}.
export async function checkReceipt(text) {
  let r = null;
  try {
    r = JSON.parse(text);
  } catch {
    // not JSON: not a receipt
  }
  const seq = r?.format === "dvr-receipt/1" && Number.isSafeInteger(r.seq) && r.seq > 0 && r.seq;
  if (!seq || r.leaf_index !== seq - 1 || typeof r.checkpoint !== "string") fail("not_receipt");
  const env = r.envelope;
  if (env === undefined) fail("no_envelope");
  // Plain ASCII strings only, so canonicalEnvelope gives the RFC 8785 bytes.
  const plain = (v) => typeof v === "string" && /^[\w./-]+$/.test(v);
  const members = env && typeof env === "object" ? Object.keys(env).sort().join() : "";
  const ok = members === "ct,format,kid" && Object.values(env).every(plain);
  if (!ok || (await envelopeSha256(env)) !== r.envelope_sha256) fail("envelope");
  const proof = hashList(r.inclusion_proof, "inclusion");

  const verifier = await parseVerifier(await get("key", "text"));
  const then = await openCheckpoint(r.checkpoint, verifier, "signature");
  const leaf = await leafHash(canonicalEnvelope(env));
  if (!(await verifyInclusion(leaf, r.leaf_index, then.size, proof, then.root))) fail("inclusion");

  const now = await openCheckpoint(await get("checkpoint", "text"), verifier, "network");
  if (now.size < then.size) fail("inconsistent");
  const consistency = await get(`consistency?from=${then.size}&to=${now.size}`, "json");
  const hashes = hashList(consistency?.hashes, "network");
  if (!(await verifyConsistency(then.size, now.size, hashes, then.root, now.root))) fail("inconsistent");
  return { seq: r.seq, size: then.size, current: now.size };
}
