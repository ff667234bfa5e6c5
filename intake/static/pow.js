// The proof of work a submission carries (docs/formats.md, section 10), in a
// worker so that the page stays responsive: given an ALTCHA challenge, find
// the number n, 0 <= n <= maxNumber, with SHA-256(salt + n) = challenge
// (WebCrypto), and post it back (null if there is none).
onmessage = async ({ data: c }) => {
  const text = new TextEncoder();
  const want = c.challenge.match(/../g).map((h) => parseInt(h, 16));
  const same = (hash) => new Uint8Array(hash).every((b, i) => b === want[i]);
  for (let start = 0; start <= c.maxNumber; start += 500) {
    const tries = [];
    for (let n = start; n <= Math.min(start + 499, c.maxNumber); n++) {
      tries.push(crypto.subtle.digest("SHA-256", text.encode(c.salt + n)));
    }
    const found = (await Promise.all(tries)).findIndex(same);
    if (found >= 0) return postMessage(start + found);
  }
  postMessage(null);
};
