// The registrant code (docs/formats.md 12.1): a random secret, written as 16
// Crockford base32 digits and a mod-37 check symbol (control.js reads it), and
// what WebCrypto derives from it: the key and its hash, the id.

export const DIGITS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
export const CHECKS = `${DIGITS}*~$=U`;

const b64u = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

// XXXX-XXXX-XXXX-XXXX-C for a 10-byte secret (80 bits, big-endian).
export function formatCode(secret) {
  const n = secret.reduce((a, b) => (a << 8n) | BigInt(b), 0n);
  const digits = Array.from({ length: 16 }, (_, i) => DIGITS[Number((n >> BigInt(75 - 5 * i)) & 31n)]).join("");
  return `${digits.match(/.{4}/g).join("-")}-${CHECKS[Number(n % 37n)]}`;
}

export const newSecret = () => crypto.getRandomValues(new Uint8Array(10));

// key = HKDF-SHA256(secret, empty salt, info "dvr-registrant/2 key", 32 bytes); id = SHA-256(key).
export async function deriveControl(secret) {
  const ikm = await crypto.subtle.importKey("raw", secret, "HKDF", false, ["deriveBits"]);
  const info = new TextEncoder().encode("dvr-registrant/2 key");
  const key = new Uint8Array(await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info }, ikm, 256));
  return { key: b64u(key), id: b64u(new Uint8Array(await crypto.subtle.digest("SHA-256", key))) };
}
