// HPKE (RFC 9180) base mode, single-shot seal, for one suite only:
// DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-128-GCM (KEM 0x0020, KDF 0x0001, AEAD 0x0001).
//
// Every primitive is a WebCrypto call: X25519 key generation and Diffie-Hellman,
// HMAC-SHA256 (HKDF-Extract and HKDF-Expand are built from it exactly as
// RFC 5869 defines them), AES-128-GCM. This module only composes them as
// RFC 9180 sections 4, 5.1 and 7.1.3 describe. It is checked against the
// RFC 9180 A.1.1 test vector and against the Python implementation
// (pyca/cryptography) in a real browser by tests/test_browser_hpke.py.

const subtle = globalThis.crypto.subtle;
const encoder = new TextEncoder();

const NH = 32; // HKDF-SHA256 output length
const NSECRET = 32; // DHKEM(X25519) shared secret length
const NK = 16; // AES-128-GCM key length
const NN = 12; // AES-128-GCM nonce length
export const NENC = 32; // X25519 public key length

const HPKE_V1 = encoder.encode("HPKE-v1");
const KEM_SUITE_ID = concat(encoder.encode("KEM"), i2osp(0x0020, 2));
const HPKE_SUITE_ID = concat(encoder.encode("HPKE"), i2osp(0x0020, 2), i2osp(0x0001, 2), i2osp(0x0001, 2));
const MODE_BASE = 0x00;

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function i2osp(value, length) {
  const out = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--) {
    out[i] = value & 0xff;
    value >>>= 8;
  }
  return out;
}

async function hmac(key, data) {
  // An empty HKDF salt is HashLen zero bytes (RFC 5869 section 2.2); WebCrypto refuses empty HMAC keys.
  const raw = key.length === 0 ? new Uint8Array(NH) : key;
  const k = await subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await subtle.sign("HMAC", k, data));
}

// RFC 5869 HKDF-Extract and HKDF-Expand.
const extract = (salt, ikm) => hmac(salt, ikm);

async function expand(prk, info, length) {
  if (length > 255 * NH) throw new RangeError("HKDF-Expand length too large");
  let block = new Uint8Array(0);
  const out = [];
  for (let i = 1, have = 0; have < length; i++) {
    block = await hmac(prk, concat(block, info, Uint8Array.of(i)));
    out.push(block);
    have += block.length;
  }
  return concat(...out).slice(0, length);
}

// RFC 9180 section 4.
const labeledExtract = (suiteId, salt, label, ikm) =>
  extract(salt, concat(HPKE_V1, suiteId, encoder.encode(label), ikm));

const labeledExpand = (suiteId, prk, label, info, length) =>
  expand(prk, concat(i2osp(length, 2), HPKE_V1, suiteId, encoder.encode(label), info), length);

// PKCS #8 wrapping of a raw X25519 private key (RFC 8410): WebCrypto imports no raw private keys.
const PKCS8_X25519_PREFIX = Uint8Array.of(
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
);

function b64uDecode(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
}

/** True when this browser's WebCrypto can do X25519 (needed to seal). */
export async function supportsX25519() {
  try {
    const pair = await subtle.generateKey({ name: "X25519" }, false, ["deriveBits"]);
    const raw = new Uint8Array(await subtle.exportKey("raw", pair.publicKey));
    const dh = await subtle.deriveBits({ name: "X25519", public: pair.publicKey }, pair.privateKey, 256);
    return raw.length === NENC && dh.byteLength === NSECRET;
  } catch {
    return false;
  }
}

async function generateKeyPair() {
  const pair = await subtle.generateKey({ name: "X25519" }, false, ["deriveBits"]);
  return { privateKey: pair.privateKey, publicKey: new Uint8Array(await subtle.exportKey("raw", pair.publicKey)) };
}

/**
 * DeriveKeyPair(ikm) for DHKEM(X25519, HKDF-SHA256), RFC 9180 section 7.1.3.
 * Production code never calls this: it exists so that tests can fix the
 * ephemeral key and reproduce the RFC's test vectors.
 */
export async function deriveKeyPair(ikm) {
  const dkpPrk = await labeledExtract(KEM_SUITE_ID, new Uint8Array(0), "dkp_prk", ikm);
  const sk = await labeledExpand(KEM_SUITE_ID, dkpPrk, "sk", new Uint8Array(0), 32);
  const privateKey = await subtle.importKey("pkcs8", concat(PKCS8_X25519_PREFIX, sk), { name: "X25519" }, true, [
    "deriveBits",
  ]);
  const jwk = await subtle.exportKey("jwk", privateKey);
  return { privateKey, publicKey: b64uDecode(jwk.x) };
}

// DHKEM Encap (RFC 9180 section 4.1), with an optional fixed ephemeral key pair.
async function encap(pkR, ephemeral) {
  const { privateKey: skE, publicKey: enc } = ephemeral ?? (await generateKeyPair());
  const pkRKey = await subtle.importKey("raw", pkR, { name: "X25519" }, false, []);
  // WebCrypto throws on an all-zero shared secret (a small-order pkR), as RFC 9180 section 7.1.4 requires.
  const dh = new Uint8Array(await subtle.deriveBits({ name: "X25519", public: pkRKey }, skE, 256));
  const eaePrk = await labeledExtract(KEM_SUITE_ID, new Uint8Array(0), "eae_prk", dh);
  const sharedSecret = await labeledExpand(KEM_SUITE_ID, eaePrk, "shared_secret", concat(enc, pkR), NSECRET);
  return { sharedSecret, enc };
}

// KeySchedule for mode_base (RFC 9180 section 5.1): no PSK, no PSK id.
async function keySchedule(sharedSecret, info) {
  const empty = new Uint8Array(0);
  const pskIdHash = await labeledExtract(HPKE_SUITE_ID, empty, "psk_id_hash", empty);
  const infoHash = await labeledExtract(HPKE_SUITE_ID, empty, "info_hash", info);
  const context = concat(Uint8Array.of(MODE_BASE), pskIdHash, infoHash);
  const secret = await labeledExtract(HPKE_SUITE_ID, sharedSecret, "secret", empty);
  const key = await labeledExpand(HPKE_SUITE_ID, secret, "key", context, NK);
  const baseNonce = await labeledExpand(HPKE_SUITE_ID, secret, "base_nonce", context, NN);
  return { key, baseNonce };
}

/**
 * Single-shot seal (RFC 9180 section 6.1) to the raw X25519 public key `pkR`.
 * Returns {enc, ct}. `ephemeral` is for tests only (see deriveKeyPair).
 */
export async function seal(pkR, info, aad, pt, ephemeral = undefined) {
  if (!(pkR instanceof Uint8Array) || pkR.length !== NENC) throw new TypeError("pkR must be 32 bytes");
  const { sharedSecret, enc } = await encap(pkR, ephemeral);
  const { key, baseNonce } = await keySchedule(sharedSecret, info);
  // Sequence number 0: the nonce is the base nonce itself.
  const aesKey = await subtle.importKey("raw", key, { name: "AES-GCM" }, false, ["encrypt"]);
  const ct = await subtle.encrypt({ name: "AES-GCM", iv: baseNonce, additionalData: aad, tagLength: 128 }, aesKey, pt);
  return { enc, ct: new Uint8Array(ct) };
}
