// Proof of work (docs/formats.md, section 10) off the page's thread: the n
// with SHA-256(salt + n) = challenge, trying from, from + step, ... (WebCrypto).
onmessage = async ({ data: c }) => {
  const text = new TextEncoder();
  const want = c.challenge.match(/../g).map((h) => parseInt(h, 16));
  const same = (hash) => new Uint8Array(hash).every((b, i) => b === want[i]);
  for (let start = c.from; start <= c.maxNumber; start += 500 * c.step) {
    const tries = [];
    for (let n = start; n <= c.maxNumber && tries.length < 500; n += c.step) {
      tries.push(crypto.subtle.digest("SHA-256", text.encode(c.salt + n)));
    }
    const found = (await Promise.all(tries)).findIndex(same);
    if (found >= 0) return postMessage(start + found * c.step);
  }
  postMessage(null);
};
