// The record kinds beside the individual (docs/formats.md section 13): a household (the
// individual's form and the people who live with the registrant), a business and an association
// (their own sections, a contact person, and the individual's consent). Loaded by form.js only
// when one of them is first chosen, and only if it has the SHA-256 the page carries, like the
// fragment of the page's language it takes the sections from (pages.render_kinds).
//
// The sections of the kind not chosen are taken out of the form, not hidden: what is out of the
// form is neither checked nor sealed, and comes back with its answers when chosen again.

const MAX_MEMBERS = 20; // registration-kinds.schema.json, household.members.maxItems

// `html`: the fragment; `page`: what form.js lends (the form, setDynamicBounds). Returns {show}.
export function start(html, page) {
  const { form } = page;
  const doc = new DOMParser().parseFromString(html, "text/html");
  const texts = Object.fromEntries(
    Array.from(doc.querySelectorAll("#kinds-messages [data-key]"), (el) => [el.dataset.key, el.textContent]),
  );
  const say = (name, vars) => texts[name].replace(/\{(\w+)\}/g, (_, v) => String(vars[v]));
  const template = doc.getElementById("member");
  const member = template.innerHTML;
  template.remove();
  const sections = Array.from(doc.querySelectorAll("section[data-for]"), (s) => document.adoptNode(s));
  const own = Array.from(form.querySelectorAll(":scope > section.part")); // the individual's
  const consent = own.find((s) => s.querySelector("[data-field='consent.processing']"));

  // ---- a household's members ----
  const household = sections.find((s) => s.dataset.for === "household");
  const list = household.querySelector("#members");
  const add = household.querySelector("#member-add");
  const count = household.querySelector("#members-count");
  let made = 0; // numbers the controls' names and ids, so that no two members share one

  // Each member's legend and record path follow its place in the list (members.0 is the first).
  function renumber() {
    const members = Array.from(list.children);
    members.forEach((m, i) => {
      m.querySelector("legend").textContent = say("member", { n: i + 1 });
      for (const w of m.querySelectorAll("[data-field]")) {
        w.dataset.field = w.dataset.field.replace(/^members\.\d+\./, `members.${i}.`);
      }
      m.querySelector("[data-remove]").disabled = members.length === 1;
    });
    add.disabled = members.length >= MAX_MEMBERS;
    count.textContent = say("members_count", { count: members.length, max: MAX_MEMBERS });
  }

  function addMember() {
    made += 1;
    const t = document.createElement("template");
    t.innerHTML = member.replace(/members([.-])0\1/g, `members$1${made}$1`);
    const fieldset = t.content.firstElementChild;
    list.append(fieldset);
    page.setDynamicBounds();
    fieldset.querySelector("[data-remove]").addEventListener("click", () => removeMember(fieldset));
    renumber();
    return fieldset;
  }

  // Focus goes to the next member (or the one before, or "add"), never to the page's top.
  function removeMember(fieldset) {
    const next = fieldset.nextElementSibling ?? fieldset.previousElementSibling;
    fieldset.remove();
    renumber();
    (next?.querySelector("input") ?? add).focus();
  }

  add.addEventListener("click", () => addMember().querySelector("input").focus());

  // ---- choosing a kind ("" is the individual) ----
  function show(kind) {
    const keep = kind === "" || kind === "household" ? own : [consent];
    const shown = [...keep.filter((s) => s !== consent), ...sections.filter((s) => s.dataset.for === kind), consent];
    for (const s of [...own, ...sections]) if (!shown.includes(s)) s.remove();
    let at = form.querySelector("#f-kind");
    for (const s of shown) {
      if (at.nextElementSibling !== s) at.after(s);
      at = s;
    }
    if (kind === "household" && !list.children.length) addMember();
  }

  return { show };
}
