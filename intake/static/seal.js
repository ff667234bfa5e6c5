// Envelopes v1 (FORMATS.md section 2) and v2 (X-Wing, docs/formats.md): check
// that the ministry signed the key bundle (from the pinned key, through signed
// rotations), pad the submission to a bucket, seal it with HPKE and build the
// envelope object.

import { NENC, XWING_NPK, concat, seal, sealXWing, supportsXWing } from "./hpke.js";

export const ENVELOPE_FORMAT = "dvr-envelope/1";
export const BUNDLE_FORMAT = "dvr-key-bundle/1";
export const SUITE = "DHKEM-X25519-HKDF-SHA256/HKDF-SHA256/AES-128-GCM";
export const BUCKETS = [1024, 2048, 4096, 8192, 16384]; // both versions
// By version: bundle format, suite, public key length, sealer.
const V = {
  1: [BUNDLE_FORMAT, SUITE, NENC, seal],
  2: ["dvr-key-bundle/2", "MLKEM768-X25519/HKDF-SHA256/ChaCha20Poly1305", XWING_NPK, sealXWing],
};

const encoder = new TextEncoder();

/** Raised when a submission or a key bundle cannot be sealed to. Nothing has been sent. */
export class SealError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function b64uEncode(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function b64uDecode(text) {
  if (typeof text !== "string" || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
    throw new SealError("bad_key", "not unpadded base64url");
  }
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
}

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

/** ISO/IEC 7816-4 padding: 0x80, then zeros up to the smallest bucket with len + 1 <= bucket. */
export function pad(submission) {
  const bucket = BUCKETS.find((b) => submission.length + 1 <= b);
  if (bucket === undefined) throw new SealError("too_large", "the submission does not fit the largest bucket");
  const out = new Uint8Array(bucket);
  out.set(submission);
  out[submission.length] = 0x80;
  return out;
}

/**
 * Check a key bundle's form and return {kid, publicKey, version}.
 * The kid must be the first 16 bytes of SHA-256(public key), so the
 * fingerprint the page shows is a fingerprint of the key it seals to.
 */
export async function checkBundle(bundle) {
  const version = bundle?.format === V[2][0] ? 2 : 1;
  const [format, suite, length] = V[version];
  if (bundle?.format !== format || bundle.suite !== suite) throw new SealError("bad_key", "not a v1 or v2 key bundle");
  const publicKey = b64uDecode(bundle.public_key);
  if (publicKey.length !== length) throw new SealError("bad_key", "the public key has the wrong length");
  const kid = hex((await sha256(publicKey)).subarray(0, 16));
  if (kid !== bundle.kid) throw new SealError("bad_key", "the key id does not match the public key");
  return { kid, publicKey, version };
}

// ---- trust: the ministry's signature, from the pinned key (docs/registrant-page.md) ----

const BUNDLE_MEMBERS = "created format kid public_key signature signing_key suite";
const ROTATION_MEMBERS = "created format kid previous_kid previous_signing_key public_key signature signing_key";
const untrusted = (why) => new SealError("untrusted", why);

/**
 * RFC 8785 canonical JSON of an object whose members are all strings of
 * printable ASCII other than `"` and `\` (all a bundle or a rotation
 * statement holds): the members sorted by name, `"name":"value"`, no
 * whitespace; nothing to escape. Any other object is refused.
 */
export function canonicalStrings(obj) {
  const plain = (t) => typeof t === "string" && /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/.test(t);
  const names = Object.keys(obj).sort();
  if (!names.every((n) => plain(n) && plain(obj[n]))) throw untrusted("not plain ASCII strings");
  return encoder.encode(`{${names.map((n) => `"${n}":"${obj[n]}"`).join(",")}}`);
}

const hasMembers = (obj, names) => obj instanceof Object && Object.keys(obj).sort().join(" ") === names;

function raw(text, length, or) {
  const bytes = b64uDecode(text); // a SealError if not base64url
  if (bytes.length !== length && bytes.length !== or) throw untrusted("a key or signature of the wrong length");
  return bytes;
}

/** Does `obj.signature` verify (Ed25519, over the canonical JSON of `obj` without it) under `signingKey`? */
async function signedBy(obj, signingKey) {
  const { signature, ...unsigned } = obj;
  const key = await crypto.subtle.importKey("raw", raw(signingKey, 32), "Ed25519", false, ["verify"]);
  return crypto.subtle.verify("Ed25519", key, raw(signature, 64), canonicalStrings(unsigned));
}

/** Can this browser verify Ed25519 signatures (WebCrypto)? Probed with RFC 8032's first test key. */
export async function supportsEd25519() {
  try {
    await crypto.subtle.importKey("raw", b64uDecode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"), "Ed25519", false, [
      "verify",
    ]);
    return true;
  } catch {
    return false;
  }
}

/**
 * From the pinned key, follow the rotation statements that verify, each
 * under the signing key before it, to the newest key. Returns `trusted`
 * (signing key -> the {kid, public_key} its statement named; null for the
 * pin) and `superseded` (the kids handed over from). Others are ignored.
 */
export async function followRotations(pinned, rotations) {
  const trusted = new Map([[pinned, null]]);
  const superseded = new Set();
  for (let current = pinned, next; ; current = next.signing_key) {
    next = null;
    for (const r of Array.isArray(rotations) ? rotations : []) {
      if (!hasMembers(r, ROTATION_MEMBERS) || r.format !== "dvr-key-rotation/1") continue;
      if (r.previous_signing_key !== current || trusted.has(r.signing_key)) continue;
      try {
        raw(r.signing_key, 32);
        const key = raw(r.public_key, NENC, XWING_NPK); // the new key, v1 or v2
        if (hex((await sha256(key)).subarray(0, 16)) !== r.kid || !(await signedBy(r, current))) {
          continue;
        }
      } catch {
        continue;
      }
      next = r;
      break;
    }
    if (next === null) return { trusted, superseded };
    superseded.add(next.previous_kid);
    trusted.set(next.signing_key, { kid: next.kid, public_key: next.public_key });
  }
}

/**
 * The ministry must have signed `bundle`: it carries `signing_key` and
 * `signature`, which verifies under that key, and that key is `pinned` or
 * reached from it by verified rotations (then the bundle is the key its
 * statement names). A kid a rotation superseded (a replayed old key) and a
 * key older than the pin (not in the chain) are refused.
 */
export async function trustBundle(bundle, pinned, rotations) {
  if (typeof pinned !== "string") throw untrusted("this page pins no ministry key");
  if (!hasMembers(bundle, BUNDLE_MEMBERS)) throw untrusted("the key bundle is not signed, or has other members");
  const checked = await checkBundle(bundle);
  let valid = false;
  try {
    valid = await signedBy(bundle, bundle.signing_key);
  } catch {
    // a malformed key or signature: not valid
  }
  if (!valid) throw untrusted("the key bundle's signature does not verify");
  const { trusted, superseded } = await followRotations(pinned, rotations);
  if (!trusted.has(bundle.signing_key)) throw untrusted("the key bundle is not signed by the pinned key's chain");
  const named = trusted.get(bundle.signing_key);
  if (named && (named.kid !== bundle.kid || named.public_key !== bundle.public_key)) {
    throw untrusted("the key bundle is not the key its rotation names");
  }
  // Superseded: its kid was handed over from, or its signing key was (a retired epoch's companion).
  if (superseded.has(bundle.kid) || [...trusted.keys()].pop() !== bundle.signing_key) {
    throw untrusted("the key bundle was superseded by a rotation");
  }
  return checked;
}

/**
 * Pick the current bundle from a /api/v1/keys answer and check that the
 * ministry signed it. A v2 key in a browser without X-Wing (`xwing` false;
 * probed when not given) gives way to its companion, the v1 bundle signed by
 * the same (trusted, newest) signing key, marked `fallback` for the page.
 */
export async function currentKey(keys, pinned, xwing = undefined) {
  const bundles = keys?.keys ?? [];
  const bundle = bundles.find((b) => b?.kid === keys.current);
  if (!bundle) throw new SealError("no_key", "the registry publishes no current key");
  const key = await trustBundle(bundle, pinned, keys.rotations);
  if (key.version === 1 || (xwing ?? (await supportsXWing()))) return key;
  const other = bundles.find((b) => b?.format === BUNDLE_FORMAT && b.signing_key === bundle.signing_key);
  if (!other) throw new SealError("needs_xwing", "this browser cannot seal to the registry's X-Wing key");
  if (!hasMembers(other, BUNDLE_MEMBERS) || !(await signedBy(other, bundle.signing_key))) {
    throw untrusted("the companion key bundle's signature does not verify");
  }
  return { ...(await checkBundle(other)), fallback: true };
}

export function infoFor(kid, version = 1) {
  return encoder.encode(`dvr-envelope/${version} ${kid}`);
}

/** Seal a submission object to a checked key (v1 or v2); return the envelope object to POST. */
export async function sealSubmission(submission, key) {
  const version = key.version ?? 1;
  const padded = pad(encoder.encode(JSON.stringify(submission)));
  const { enc, ct } = await V[version][3](key.publicKey, infoFor(key.kid, version), new Uint8Array(0), padded);
  return { format: `dvr-envelope/${version}`, kid: key.kid, ct: b64uEncode(concat(enc, ct)) };
}

/**
 * `envelope_sha256`: SHA-256 of the envelope's canonical JSON (RFC 8785), the bytes the log holds.
 * Its three members are ASCII strings that need no escaping, so the
 * canonical form is the members sorted by name, without whitespace.
 */
export const canonicalEnvelope = (e) => encoder.encode(`{"ct":"${e.ct}","format":"${e.format}","kid":"${e.kid}"}`);

export async function envelopeSha256(envelope) {
  return hex(await sha256(canonicalEnvelope(envelope)));
}
