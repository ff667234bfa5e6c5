// The registration form's behaviour: check that this browser can seal, load
// and check the ministry's key, validate in the page language, seal the
// record, send only the envelope, and show the receipt and registrant code
// (registrant.js; correcting and withdrawing: control.js).
//
// Until this script has checked everything, the submit button stays
// disabled and the "use a current browser" notice stays visible; the form
// itself has no action and cannot be submitted by the browser. The key is
// used only once its bundle verifies from the ministry's pinned signing key
// (ministry-key.js, covered by the static manifest); otherwise nothing is sent.

import { supportsX25519 } from "./hpke.js";
import { MINISTRY_SIGNING_KEY } from "./ministry-key.js";
import { deriveControl, formatCode, newSecret } from "./registrant.js";
import { SealError, currentKey, envelopeSha256, sealSubmission, supportsEd25519 } from "./seal.js";

const SUBMISSION_SCHEMA = "dvr-registration/2";
const KEYS_URL = "/api/v1/keys";
const SUBMIT_URL = "/api/v1/submissions";
const CHALLENGE_URL = "/api/v1/challenge";
const FETCH_OPTIONS = { credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer" };

const $ = (id) => document.getElementById(id);
const form = $("registration");
const button = $("submit");
const lang = form.dataset.lang;
const messages = Object.fromEntries(
  Array.from(document.querySelectorAll("#messages [data-key]"), (el) => [el.dataset.key, el.textContent]),
);
let key = null;
let busy = false;
let proof = null;
let correcting = null; // the secret of a registration being corrected

function msg(name, vars = {}) {
  return messages[name].replace(/\{(\w+)\}/g, (_, v) => String(vars[v]));
}

// Progress goes to a polite status region, failures to an alert region.
function say(text, { alert = false, control = false } = {}) {
  $(control ? "control-result" : "status").textContent = alert ? "" : text;
  $(control ? "control-error" : "submit-error").textContent = alert ? text : "";
}
const controlSay = (text, options = {}) => say(text, { ...options, control: true });

// ---- the key -------------------------------------------------------------

function groups(text, size) {
  return text.match(new RegExp(`.{1,${size}}`, "g")).join(" ");
}

async function loadKey() {
  const response = await fetch(KEYS_URL, FETCH_OPTIONS);
  if (!response.ok) throw new SealError("no_key", `keys: HTTP ${response.status}`);
  const checked = await currentKey(await response.json(), MINISTRY_SIGNING_KEY);
  // The short fingerprint: the first 16 hex digits of the kid, as the ministry's tools print it.
  $("fingerprint").textContent = groups(checked.kid.slice(0, 16), 4);
  $("key-info").hidden = false;
  $("pq-fallback").hidden = !checked.fallback; // sealed to the X25519 companion of an X-Wing key
  return checked;
}

// ---- fields --------------------------------------------------------------

function wrappers() {
  return Array.from(form.querySelectorAll("[data-field]"));
}

function controls(wrapper) {
  return Array.from(wrapper.querySelectorAll("input[name], select[name]"));
}

function active(wrapper) {
  return !wrapper.hidden;
}

function setDynamicBounds() {
  const now = new Date();
  const pad2 = (n) => String(n).padStart(2, "0");
  const today = `${now.getFullYear()}-${pad2(now.getMonth() + 1)}-${pad2(now.getDate())}`;
  for (const el of form.querySelectorAll("[data-max=today]")) el.max = today;
  for (const el of form.querySelectorAll("[data-max=this-year]")) el.max = String(now.getFullYear());
}

// A field that depends on another (origin_municipality on origin_country = XK)
// sits right after it in the page, so showing it keeps the keyboard order.
function wireDependencies() {
  for (const wrapper of form.querySelectorAll("[data-depends-on]")) {
    const source = form.elements.namedItem(wrapper.dataset.dependsOn);
    const update = () => {
      const show = source.value === wrapper.dataset.dependsValue;
      wrapper.hidden = !show;
      for (const el of controls(wrapper)) el.disabled = !show;
    };
    source.addEventListener("change", update);
    update();
  }
}

// Long checkbox lists show the frequent choices; "add" ticks a new box for any other.
function addChoice(select) {
  const option = select.selectedOptions[0];
  if (!option || option.value === "") return;
  const box = $(select.dataset.addTo);
  const input = document.createElement("input");
  input.type = "checkbox";
  input.name = box.closest("[data-field]").dataset.field;
  input.value = option.value;
  input.checked = true;
  const label = document.createElement("label");
  label.className = "choice";
  label.append(input, ` ${option.text}`);
  box.append(label);
  option.disabled = true;
  select.value = "";
  select.parentElement.querySelector(".added").textContent = msg("added", { name: option.text });
}

// A list carried once in the page: copied from the select it names, less the values it skips; a
// select's "All, A to Z" group (an optgroup) sorted in the page language.
function copyLists() {
  const { compare } = new Intl.Collator(document.documentElement.lang);
  for (const list of form.querySelectorAll("[data-options-from]")) {
    const skip = new Set(list.dataset.optionsSkip.split(" "));
    const copied = Array.from($(list.dataset.optionsFrom).options).filter((o) => o.value && !skip.has(o.value));
    if (list.tagName === "OPTGROUP") copied.sort((a, b) => compare(a.text, b.text));
    list.append(...copied.map((o) => new Option(o.text, o.value)));
  }
}

function wireAdders() {
  copyLists();
  for (const button of form.querySelectorAll("[data-add-from]")) {
    button.addEventListener("click", () => addChoice($(button.dataset.addFrom)));
  }
}

function readValue(wrapper) {
  const els = controls(wrapper);
  switch (wrapper.dataset.kind) {
    case "boolean":
      return els[0].checked;
    case "array": {
      const values = els.filter((el) => el.checked).map((el) => el.value);
      return values.length ? values : undefined;
    }
    case "integer": {
      const text = els[0].value.trim();
      return text === "" ? undefined : Number(text);
    }
    default: {
      const el = els.find((e) => e.type !== "radio" || e.checked);
      const text = el ? el.value.trim().normalize("NFC") : "";
      return text === "" ? undefined : text;
    }
  }
}

/** The record: only filled fields, consent always (an unticked box is false). A dotted name is a
 * member of an object, or of an array where the next part is a number (members.0.given_name). */
function buildRecord() {
  const record = {};
  for (const wrapper of wrappers().filter(active)) {
    const value = readValue(wrapper);
    if (value === undefined) continue;
    const path = wrapper.dataset.field.split(".");
    const last = path.pop();
    let at = record;
    path.forEach((k, i) => (at = at[k] ??= /^\d/.test(path[i + 1] ?? last) ? [] : {}));
    at[last] = value;
  }
  return record;
}

// ---- validation ----------------------------------------------------------

function problem(wrapper) {
  const els = controls(wrapper);
  const el = els[0];
  const value = readValue(wrapper);
  const required = el.required;
  switch (wrapper.dataset.kind) {
    case "boolean":
      return required && !value ? msg("required_consent") : null;
    case "array": {
      const max = Number(wrapper.dataset.maxItems || Infinity);
      return value && value.length > max ? msg("too_many", { max }) : null;
    }
    case "integer":
      if (el.validity.badInput || (value !== undefined && !/^\d+$/.test(el.value.trim()))) return msg("integer");
      if (value === undefined) return required ? msg("required") : null;
      return value < Number(el.min) || (el.max && value > Number(el.max))
        ? msg("year_range", { min: el.min, max: el.max })
        : null;
    default:
      if (el.type === "date" && el.validity.badInput) return msg("date");
      if (value === undefined) {
        if (!required) return null;
        return el.type === "radio" || el.tagName === "SELECT" ? msg("required_choice") : msg("required");
      }
      if (el.type === "date" && (el.validity.rangeUnderflow || el.validity.rangeOverflow)) return msg("date_range");
      if (el.maxLength > 0 && value.length > el.maxLength) return msg("too_long", { max: el.maxLength });
      if (el.type === "email" && (el.validity.typeMismatch || el.validity.patternMismatch)) return msg("email");
      return null;
  }
}

// A field inside a group of fields (a household's person) is named after the group too.
function labelOf(wrapper) {
  const label = wrapper.querySelector("legend, label");
  const copy = label.cloneNode(true);
  for (const extra of copy.querySelectorAll(".req")) extra.remove();
  const text = copy.textContent.trim().replace(/[.:?]$/, "");
  const group = wrapper.parentElement.closest("fieldset")?.querySelector("legend").textContent;
  return group ? `${group}, ${text}` : text;
}

function markField(wrapper, text) {
  const error = wrapper.querySelector(".error");
  error.textContent = text ?? "";
  wrapper.classList.toggle("invalid", Boolean(text));
  for (const el of controls(wrapper)) {
    if (text) el.setAttribute("aria-invalid", "true");
    else el.removeAttribute("aria-invalid");
  }
}

function validate() {
  const found = [];
  for (const wrapper of wrappers()) {
    const text = active(wrapper) ? problem(wrapper) : null;
    markField(wrapper, text);
    if (text) found.push({ wrapper, text });
  }
  return found;
}

function showSummary(found) {
  const summary = $("error-summary");
  const list = summary.querySelector("ul");
  list.replaceChildren();
  for (const { wrapper, text } of found) {
    const target = controls(wrapper)[0];
    const link = document.createElement("a");
    link.href = `#${target.id || wrapper.id}`;
    link.textContent = `${labelOf(wrapper)}: ${text}`;
    link.addEventListener("click", (event) => {
      event.preventDefault();
      target.focus();
      target.scrollIntoView({ block: "center" });
    });
    const item = document.createElement("li");
    item.append(link);
    list.append(item);
  }
  summary.hidden = found.length === 0;
  if (found.length) summary.focus();
}

function revalidateOnChange(event) {
  const wrapper = event.target.closest("[data-field]");
  if (wrapper?.classList.contains("invalid")) markField(wrapper, problem(wrapper));
}

// ---- proof of work (docs/formats.md, section 10) ----------------------------

// Solved while the form is filled in: { header, expires }, or null if none is asked.
function solveProof() {
  proof = (async () => {
    const response = await fetch(CHALLENGE_URL, FETCH_OPTIONS);
    if (response.status === 404) return null;
    if (!response.ok) throw new Error(`challenge: HTTP ${response.status}`);
    const c = await response.json();
    const step = Math.min(navigator.hardwareConcurrency || 1, 4); // a worker per core
    const workers = Array.from({ length: step }, () => new Worker("/assets/pow.js"));
    const number = await new Promise((resolve, reject) => {
      let left = step;
      workers.forEach((worker, from) => {
        worker.onmessage = ({ data }) => (data !== null || !--left) && resolve(data);
        worker.onerror = reject;
        worker.postMessage({ ...c, from, step });
      });
    }).finally(() => workers.forEach((worker) => worker.terminate()));
    const { algorithm, challenge, salt, signature } = c;
    const header = btoa(JSON.stringify({ algorithm, challenge, number, salt, signature }));
    return { header, expires: Number(/expires=(\d+)/.exec(salt)[1]) * 1000 };
  })();
  proof.catch(() => {}); // reported when a submission awaits it
}

async function proofHeaders() {
  let solved = await proof.catch((error) => {
    solveProof();
    throw error;
  });
  if (solved && Date.now() > solved.expires - 60000) {
    solveProof();
    solved = await proof;
  }
  if (!solved) return {};
  solveProof(); // the next, for another attempt
  return { "X-Altcha": solved.header };
}

// ---- sending and the receipt ---------------------------------------------

// Retry-After as a time of day, rounded up to the minute.
function retryTime(response) {
  const wait = Number(response.headers.get("Retry-After")) || 60;
  const at = new Date(Math.ceil((Date.now() + wait * 1000) / 60000) * 60000);
  return at.toLocaleTimeString(document.documentElement.lang, { timeStyle: "short" });
}

async function failureMessage(response, code) {
  if (response.status === 429) return msg("rate_limited", { time: retryTime(response) });
  if (response.status === 503) return msg("unavailable");
  if (response.status === 413) return msg("too_large");
  if (code === "unknown_kid") {
    key = await loadKey();
    return msg("key_changed");
  }
  return msg("rejected");
}

// The day in the page language if this browser knows its date formats; otherwise as YYYY-MM-DD.
function localDate(isoDay) {
  const htmlLang = document.documentElement.lang;
  if (!Intl.DateTimeFormat.supportedLocalesOf([htmlLang]).length) return isoDay;
  const day = new Date(`${isoDay}T00:00:00Z`);
  return new Intl.DateTimeFormat(htmlLang, { dateStyle: "long", timeZone: "UTC" }).format(day);
}

// The saved file: the receipt as sent, the envelope (the log's leaf) a check needs, the code.
function showReceipt(receipt, envelope, code) {
  $("receipt-seq").textContent = String(receipt.seq);
  $("receipt-sha").textContent = groups(receipt.envelope_sha256, 4);
  $("receipt-date").textContent = localDate(receipt.received_on);
  $("receipt-code").textContent = code;
  $("control").hidden = true;
  const saved = JSON.stringify({ ...receipt, envelope, registrant_code: code }, null, 1);
  const blob = new Blob([`${saved}\n`], { type: "application/json" });
  const link = $("receipt-download");
  link.href = URL.createObjectURL(blob);
  link.download = `dvr-receipt-${receipt.seq}.json`;
  form.hidden = true;
  $("error-summary").hidden = true;
  const section = $("receipt");
  section.hidden = false;
  section.focus();
  performance.mark("dvr-receipt");
}

// The receipt, or null once `tell` said why there is none.
async function send(envelope, tell = say, again = true) {
  const response = await fetch(SUBMIT_URL, {
    ...FETCH_OPTIONS,
    method: "POST",
    headers: { "Content-Type": "application/json", ...(await proofHeaders()) },
    body: JSON.stringify(envelope),
  });
  if (response.status !== 201) {
    const code = (await response.json().catch(() => null))?.error?.code ?? "";
    // A refused proof (expired, or from before a restart): once more with a new one.
    if (again && code.startsWith("proof_of_work")) return send(envelope, tell, false);
    tell(await failureMessage(response, code), { alert: true });
    return null;
  }
  const receipt = await response.json();
  if (receipt.envelope_sha256 !== (await envelopeSha256(envelope))) {
    tell(msg("receipt_mismatch"), { alert: true });
    return null;
  }
  tell("");
  return receipt;
}


async function onSubmit(event) {
  event.preventDefault();
  if (busy || !key) return;
  // A choice picked in an "add" list but not added yet counts as added.
  for (const select of form.querySelectorAll("[data-add-to]")) addChoice(select);
  const found = validate();
  showSummary(found);
  if (found.length) return;
  busy = true;
  button.disabled = true;
  say(msg("sending"));
  performance.mark("dvr-submit");
  let done = false;
  try {
    const secret = correcting ?? newSecret();
    const c = await deriveControl(secret); // a correction reveals the key, a first registration its hash
    const record = { ...buildRecord(), registrant: correcting ? { key: c.key } : { id: c.id } };
    const envelope = await sealSubmission({ schema: SUBMISSION_SCHEMA, lang, record }, key);
    const receipt = await send(envelope);
    if (receipt) showReceipt(receipt, envelope, formatCode(secret));
    done = receipt !== null;
  } catch (error) {
    if (error instanceof SealError && error.code === "untrusted") {
      distrust();
      done = true; // the button stays disabled: this page must not send
      return;
    }
    say(error instanceof SealError && error.code === "too_large" ? msg("too_large") : msg("network"), { alert: true });
  } finally {
    busy = false;
    button.disabled = done;
  }
}

// ---- other kinds than the individual (kinds.js) -------------------------------

// kinds.js and the page language's fragment load when such a kind is first chosen, each refused
// by the browser unless it has the SHA-256 this page (in the signed manifest) carries; then this
// page sends nothing at all.
let kinds = null;

async function loadKinds() {
  const { js, html } = $("f-kind").dataset;
  const script = document.createElement("script");
  const loaded = new Promise((resolve, reject) => {
    Object.assign(script, { type: "module", src: "/assets/kinds.js", integrity: js, onload: resolve, onerror: reject });
  });
  document.head.append(script);
  const response = await fetch(`/assets/kinds-${lang}.html`, { ...FETCH_OPTIONS, integrity: html });
  const fragment = await response.text();
  await loaded;
  const { start } = await import("./kinds.js"); // the module the checked script element ran
  return start(fragment, { form, setDynamicBounds });
}

async function onKind(event) {
  if (!kinds && event.target.value === "") return; // the individual: today's form, as it is
  busy = button.disabled = true;
  try {
    kinds ??= loadKinds();
    (await kinds).show(event.target.value);
    busy = false;
  } catch {
    key = null; // busy stays: nothing is sent from this page
    say(msg("kinds_refused"), { alert: true });
  } finally {
    button.disabled = !key;
  }
}

// ---- correcting and withdrawing (control.js) --------------------------------

async function onControl(event) {
  if (busy || !key) return;
  busy = button.disabled = true;
  try {
    const { control } = await import("./control.js");
    const seal = (record) => sealSubmission({ schema: SUBMISSION_SCHEMA, lang, record }, key);
    const correct = (secret) => (correcting = secret);
    await control(event.target.id === "withdraw-button", { msg, say: controlSay, seal, send, correct });
  } catch (error) {
    if (error instanceof SealError && error.code === "untrusted") return distrust();
    controlSay(msg("network"), { alert: true });
  } finally {
    busy = false;
    button.disabled = !key;
  }
}

// ---- checking a saved receipt (verify.js is loaded only then) -------------

async function checkSaved() {
  const input = $("check-file");
  const out = $("check-result");
  if (!input.files[0]) return input.focus();
  out.className = "status";
  out.textContent = msg("check_running");
  try {
    const { checkReceipt } = await import("./verify.js");
    out.textContent = msg("check_ok", await checkReceipt(await input.files[0].text()));
    out.className = "status ok";
  } catch (error) {
    const code = error?.code;
    // No Ed25519 here: the page's "use a current browser" sentence.
    const text = code === "unsupported" ? $("use-current").textContent : messages[`check_${code}`];
    out.textContent = text ?? msg("check_network");
    out.className = "status failed";
  }
}

// The key is not the ministry's: say so, forget it, and never send from this page.
function distrust() {
  key = null;
  button.disabled = true;
  $("key-info").hidden = true;
  say("");
  const notice = $("key-untrusted");
  notice.hidden = false;
  notice.focus();
}

async function start() {
  $("check").hidden = false;
  $("check-button").addEventListener("click", checkSaved);
  setDynamicBounds();
  wireDependencies();
  wireAdders();
  form.addEventListener("change", revalidateOnChange);
  if (!(await supportsX25519())) return; // the "use a current browser" notice stays
  // No pin (no key was installed when the intake started): the page cannot check any key.
  if (typeof MINISTRY_SIGNING_KEY !== "string") {
    $("browser-needed").hidden = true;
    $("key-problem").hidden = false;
    return;
  }
  if (!(await supportsEd25519())) return; // cannot check the ministry's signature
  $("browser-needed").hidden = true;
  try {
    key = await loadKey();
  } catch (error) {
    if (error instanceof SealError && error.code === "untrusted") distrust();
    else $(error?.code === "needs_xwing" ? "browser-needed" : "key-problem").hidden = false;
    return;
  }
  solveProof();
  form.addEventListener("submit", onSubmit);
  $("f-kind").addEventListener("change", onKind);
  $("correct-button").addEventListener("click", onControl);
  $("withdraw-button").addEventListener("click", onControl);
  $("control").hidden = false;
  button.disabled = false;
}

start();
