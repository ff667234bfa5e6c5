// Envelope v1 (FORMATS.md section 2): check the ministry's key bundle, pad the
// submission to a bucket, seal it with HPKE and build the envelope object.

import { NENC, concat, seal } from "./hpke.js";

export const ENVELOPE_FORMAT = "dvr-envelope/1";
export const BUNDLE_FORMAT = "dvr-key-bundle/1";
export const SUITE = "DHKEM-X25519-HKDF-SHA256/HKDF-SHA256/AES-128-GCM";
export const BUCKETS = [1024, 2048, 4096, 8192, 16384];

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
 * Check a key bundle from /api/v1/keys and return {kid, publicKey}.
 * The kid must be the first 16 bytes of SHA-256(public key), so the
 * fingerprint the page shows is a fingerprint of the key it seals to.
 */
export async function checkBundle(bundle) {
  if (!bundle || bundle.format !== BUNDLE_FORMAT || bundle.suite !== SUITE) {
    throw new SealError("bad_key", "not a v1 key bundle");
  }
  const publicKey = b64uDecode(bundle.public_key);
  if (publicKey.length !== NENC) throw new SealError("bad_key", "the public key is not 32 bytes");
  const kid = hex((await sha256(publicKey)).subarray(0, 16));
  if (kid !== bundle.kid) throw new SealError("bad_key", "the key id does not match the public key");
  return { kid, publicKey };
}

/** Pick the current bundle from a /api/v1/keys answer and check it. */
export async function currentKey(keys) {
  const bundle = (keys?.keys ?? []).find((b) => b?.kid === keys.current);
  if (!bundle) throw new SealError("no_key", "the registry publishes no current key");
  return checkBundle(bundle);
}

export function infoFor(kid) {
  return encoder.encode(`${ENVELOPE_FORMAT} ${kid}`);
}

/** Seal a submission object to a checked key; return the envelope object to POST. */
export async function sealSubmission(submission, key) {
  const padded = pad(encoder.encode(JSON.stringify(submission)));
  const { enc, ct } = await seal(key.publicKey, infoFor(key.kid), new Uint8Array(0), padded);
  return { format: ENVELOPE_FORMAT, kid: key.kid, ct: b64uEncode(concat(enc, ct)) };
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
