// A second, independent implementation of dvr-envelope/2 (docs/formats.md),
// for tests/test_envelope_node.py: hpke-js (@hpke/core with
// @hpke/hybridkem-x-wing and @hpke/chacha20poly1305) under node, written
// from the format document alone, sharing no code with the vault.
//
// Reads one JSON request on stdin and writes one JSON answer on stdout:
//   {"op": "seal", "bundle": <dvr-key-bundle/2>, "submissions": [<object>, ...]}
//     -> {"envelopes": [<dvr-envelope/2>, ...]}
//   {"op": "vector", "vector": <tests/vectors/hpke-pq-mlkem768-x25519-a0.json>}
//     -> {"pk": <hex of the public key of skRm>, "pt": <hex of the vector's ct opened>}

import { createHash } from "node:crypto";
import { CipherSuite, HkdfSha256 } from "@hpke/core";
import { Chacha20Poly1305 } from "@hpke/chacha20poly1305";
import { XWing } from "@hpke/hybridkem-x-wing";

const BUCKETS = [1024, 2048, 4096, 8192, 16384];
const suite = new CipherSuite({ kem: new XWing(), kdf: new HkdfSha256(), aead: new Chacha20Poly1305() });
const hex = (bytes) => Buffer.from(bytes).toString("hex");
const unhex = (text) => new Uint8Array(Buffer.from(text, "hex"));
const b64u = (bytes) => Buffer.from(bytes).toString("base64url");

async function seal(bundle, submissions) {
  if (bundle.format !== "dvr-key-bundle/2") throw new Error("not a dvr-key-bundle/2");
  const raw = new Uint8Array(Buffer.from(bundle.public_key, "base64url"));
  const kid = createHash("sha256").update(raw).digest().subarray(0, 16).toString("hex");
  if (raw.length !== 1216 || kid !== bundle.kid) throw new Error("the kid is not the key's fingerprint");
  const recipientPublicKey = await suite.kem.deserializePublicKey(raw);
  const info = new TextEncoder().encode(`dvr-envelope/2 ${kid}`);
  const envelopes = [];
  for (const submission of submissions) {
    const text = new TextEncoder().encode(JSON.stringify(submission));
    const bucket = BUCKETS.find((b) => text.length + 1 <= b);
    const padded = new Uint8Array(bucket);
    padded.set(text);
    padded[text.length] = 0x80;
    const sender = await suite.createSenderContext({ recipientPublicKey, info });
    const ct = new Uint8Array(await sender.seal(padded));
    const enc = new Uint8Array(sender.enc);
    envelopes.push({ format: "dvr-envelope/2", kid, ct: b64u(Buffer.concat([enc, ct])) });
  }
  return { envelopes };
}

async function vector(v) {
  // skRm is the 32-byte X-Wing seed: the library expands it to the key pair.
  const { privateKey: recipientKey, publicKey } = await suite.kem.generateKeyPairDerand(unhex(v.skRm));
  const recipient = await suite.createRecipientContext({ recipientKey, enc: unhex(v.enc), info: unhex(v.info) });
  const pt = await recipient.open(unhex(v.ct), unhex(v.aad));
  const pk = new Uint8Array(await suite.kem.serializePublicKey(publicKey));
  return { pk: hex(pk), pt: hex(new Uint8Array(pt)) };
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const request = JSON.parse(Buffer.concat(chunks).toString("utf-8"));
const answer = request.op === "seal" ? await seal(request.bundle, request.submissions) : await vector(request.vector);
process.stdout.write(JSON.stringify(answer));
