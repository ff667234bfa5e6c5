// Correcting and withdrawing with the registrant code (docs/formats.md 12):
// loaded by form.js only when a registrant uses one of the two buttons, so
// registering does not carry it. The code is read and checked here; a
// withdrawal is sealed and sent like a registration.

import { CHECKS, DIGITS, deriveControl } from "./registrant.js";

export class CodeError extends Error {
  constructor(code) {
    super(code);
    this.code = code; // code_form | code_check
  }
}

// The secret of a typed code (any case, I/L as 1, O as 0, hyphens and spaces ignored).
export function parseCode(typed) {
  const text = String(typed).toUpperCase().replace(/[\s-]/g, "").replace(/[IL]/g, "1").replace(/O/g, "0");
  if (text.length !== 17) throw new CodeError("code_form");
  const values = Array.from(text.slice(0, 16), (ch) => DIGITS.indexOf(ch));
  const check = CHECKS.indexOf(text[16]);
  if (check < 0 || values.includes(-1)) throw new CodeError("code_form");
  const n = values.reduce((a, v) => a * 32n + BigInt(v), 0n);
  if (BigInt(check) !== n % 37n) throw new CodeError("code_check");
  return Uint8Array.from({ length: 10 }, (_, i) => Number((n >> BigInt(72 - 8 * i)) & 255n));
}

// `page`: msg, say (the section's regions), seal (record → envelope), send, and
// correct (secret): what form.js lends this module.
export async function control(withdraw, page) {
  const input = document.getElementById("control-code");
  let secret;
  try {
    secret = parseCode(input.value);
  } catch (error) {
    if (!(error instanceof CodeError)) throw error;
    input.setAttribute("aria-invalid", "true");
    page.say(page.msg(error.code), { alert: true });
    return input.focus();
  }
  input.removeAttribute("aria-invalid");
  if (!withdraw) {
    page.correct(secret);
    page.say(page.msg("correcting"));
    return document.querySelector("#registration input, #registration select")?.focus();
  }
  page.say(page.msg("withdraw_sending"));
  const { key } = await deriveControl(secret);
  const receipt = await page.send(await page.seal({ kind: "withdrawal", registrant: { key } }), page.say);
  if (!receipt) return;
  page.say(page.msg("withdrawn", { seq: receipt.seq }));
  input.value = "";
  page.correct(null);
}
