// Correcting and withdrawing with the registrant code (docs/formats.md 12):
// loaded by form.js only when a registrant uses one of the two buttons, so
// registering does not carry it. The code, typed or read from the saved
// receipt file, is checked here; a withdrawal is sealed and sent like a
// registration.

import { CHECKS, DIGITS, deriveControl } from "./registrant.js";

export class CodeError extends Error {
  constructor(code) {
    super(code);
    this.code = code; // code_form | code_check | code_file
  }
}

const MAX_FILE = 1 << 20; // a saved receipt is a few kilobytes

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

// The secret in a saved receipt file (its registrant_code member). A file that
// is not JSON, is far too large, or has no valid code is one error: code_file.
export async function readReceiptFile(file) {
  let code;
  try {
    if (file.size <= MAX_FILE) code = JSON.parse(await file.text())?.registrant_code;
    return parseCode(typeof code === "string" ? code : "");
  } catch {
    throw new CodeError("code_file");
  }
}

// The typed code if there is one, else the chosen receipt file's: [secret, the field it came from].
async function given() {
  const typed = document.getElementById("control-code");
  const chosen = document.getElementById("control-file");
  const file = typed.value.trim() === "" ? chosen.files[0] : undefined;
  const field = file ? chosen : typed;
  typed.removeAttribute("aria-invalid");
  chosen.removeAttribute("aria-invalid");
  try {
    return [file ? await readReceiptFile(file) : parseCode(typed.value), field];
  } catch (error) {
    field.setAttribute("aria-invalid", "true");
    throw error;
  }
}

// `page`: msg, say (the section's regions), seal (record → envelope), send, and
// correct (secret): what form.js lends this module.
export async function control(withdraw, page) {
  let secret, field;
  try {
    [secret, field] = await given();
  } catch (error) {
    if (!(error instanceof CodeError)) throw error;
    page.say(page.msg(error.code), { alert: true });
    return document.querySelector("#control [aria-invalid]")?.focus();
  }
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
  field.value = "";
  page.correct(null);
}
