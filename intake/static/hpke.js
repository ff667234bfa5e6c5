// HPKE (RFC 9180) base mode, single-shot seal, for two suites only:
// v1 DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-128-GCM (KEM 0x0020, KDF 0x0001, AEAD 0x0001);
// v2 MLKEM768-X25519 (X-Wing) / HKDF-SHA256 / ChaCha20-Poly1305 (KEM 0x647A, KDF 0x0001, AEAD 0x0003).
//
// Every primitive is a WebCrypto call: X25519, the X-Wing KEM, HMAC-SHA256
// (HKDF-Extract and HKDF-Expand are built from it exactly as RFC 5869 defines
// them), AES-128-GCM, ChaCha20-Poly1305. This module only composes them as
// RFC 9180 sections 4, 5.1 and 7.1.3 describe. It is checked against the
// RFC 9180 A.1.1 and hpke-pq test vectors and against the Python
// implementation (pyca/cryptography) in a real browser by
// tests/test_browser_hpke.py and tests/test_browser_xwing.py.

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
const XWING = { name: "MLKEM768-X25519" };
const CHACHA = "ChaCha20-Poly1305";
export const XWING_NPK = 1216; // the ML-KEM-768 encapsulation key, then the X25519 key
const XWING_SUITE_ID = concat(encoder.encode("HPKE"), i2osp(0x647a, 2), i2osp(0x0001, 2), i2osp(0x0003, 2));

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

// RFC 9180 section 4 (exported for the tests' DeriveKeyPair, which fixes the RFC vector's ephemeral key).
export const labeledExtract = (suiteId, salt, label, ikm) =>
  extract(salt, concat(HPKE_V1, suiteId, encoder.encode(label), ikm));

export const labeledExpand = (suiteId, prk, label, info, length) =>
  expand(prk, concat(i2osp(length, 2), HPKE_V1, suiteId, encoder.encode(label), info), length);

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

// DHKEM Encap (RFC 9180 section 4.1), with an optional fixed ephemeral key pair {privateKey, publicKey}.
async function encap(pkR, ephemeral) {
  const { privateKey: skE, publicKey: enc } = ephemeral ?? (await generateKeyPair());
  const pkRKey = await subtle.importKey("raw", pkR, { name: "X25519" }, false, []);
  // WebCrypto throws on an all-zero shared secret (a small-order pkR), as RFC 9180 section 7.1.4 requires.
  const dh = new Uint8Array(await subtle.deriveBits({ name: "X25519", public: pkRKey }, skE, 256));
  const eaePrk = await labeledExtract(KEM_SUITE_ID, new Uint8Array(0), "eae_prk", dh);
  const sharedSecret = await labeledExpand(KEM_SUITE_ID, eaePrk, "shared_secret", concat(enc, pkR), NSECRET);
  return { sharedSecret, enc };
}

// KeySchedule for mode_base (RFC 9180 section 5.1): no PSK, no PSK id; `v2`: the X-Wing suite, a 32-byte key.
export async function keySchedule(sharedSecret, info, v2) {
  const [suiteId, nk] = v2 ? [XWING_SUITE_ID, 32] : [HPKE_SUITE_ID, NK];
  const empty = new Uint8Array(0);
  const pskIdHash = await labeledExtract(suiteId, empty, "psk_id_hash", empty);
  const infoHash = await labeledExtract(suiteId, empty, "info_hash", info);
  const context = concat(Uint8Array.of(MODE_BASE), pskIdHash, infoHash);
  const secret = await labeledExtract(suiteId, sharedSecret, "secret", empty);
  const key = await labeledExpand(suiteId, secret, "key", context, nk);
  const baseNonce = await labeledExpand(suiteId, secret, "base_nonce", context, NN);
  return { key, baseNonce };
}

// Sequence number 0: the nonce is the base nonce itself. AES-GCM's tag is 128 bits by default.
async function aeadSeal(name, key, iv, aad, pt) {
  const k = await subtle.importKey(name === CHACHA ? "raw-secret" : "raw", key, { name }, false, ["encrypt"]);
  return new Uint8Array(await subtle.encrypt({ name, iv, additionalData: aad }, k, pt));
}

/**
 * Single-shot seal (RFC 9180 section 6.1) to the raw X25519 public key `pkR`.
 * Returns {enc, ct}. `ephemeral` is for tests only: a fixed key pair, to reproduce the RFC's vector.
 */
export async function seal(pkR, info, aad, pt, ephemeral = undefined) {
  if (!(pkR instanceof Uint8Array) || pkR.length !== NENC) throw new TypeError("pkR must be 32 bytes");
  const { sharedSecret, enc } = await encap(pkR, ephemeral);
  const { key, baseNonce } = await keySchedule(sharedSecret, info);
  return { enc, ct: await aeadSeal("AES-GCM", key, baseNonce, aad, pt) };
}

/** Can this browser seal v2: the X-Wing KEM and ChaCha20-Poly1305, each tried once? */
export async function supportsXWing() {
  try {
    const { publicKey } = await subtle.generateKey(XWING, false, ["encapsulateBits", "decapsulateBits"]);
    const { ciphertext } = await subtle.encapsulateBits(XWING, publicKey);
    const zero = new Uint8Array(32);
    return ciphertext.byteLength === 1120 && (await aeadSeal(CHACHA, zero, zero.subarray(0, NN), zero, zero)).length === 48;
  } catch {
    return false;
  }
}

/**
 * Single-shot seal to the raw X-Wing public key `pkR`: the browser's
 * encapsulation (1,120 bytes), then as v1. `fixed` ({sharedKey, ciphertext},
 * as encapsulateBits returns them) is for tests: it reproduces the draft's vector.
 */
export async function sealXWing(pkR, info, aad, pt, fixed = undefined) {
  if (!(pkR instanceof Uint8Array) || pkR.length !== XWING_NPK) throw new TypeError("pkR must be 1216 bytes");
  const bits =
    fixed ?? (await subtle.encapsulateBits(XWING, await subtle.importKey("raw-public", pkR, XWING, false, ["encapsulateBits"])));
  const { key, baseNonce } = await keySchedule(new Uint8Array(bits.sharedKey), info, true);
  return { enc: new Uint8Array(bits.ciphertext), ct: await aeadSeal(CHACHA, key, baseNonce, aad, pt) };
}
