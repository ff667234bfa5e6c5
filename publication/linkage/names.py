"""Name normalisation for de-duplication: one spelling per name, whatever the script.

`normalise(name)` turns what a registrant typed into the canonical form the
matcher compares; `phonetic(name)` folds it further into the key that blocking
uses. Both are pure functions of one string and are applied once per distinct
string (callers cache them), never per pair.

Steps of `normalise`, in order:

1. UTF-8 that was read as Windows-1252 somewhere (Ã« for ë) is decoded
   again; Unicode NFC; Cyrillic text is transliterated to Latin with `cyrtranslit`
   (Serbian rules; Macedonian rules when a letter only Macedonian has — ѓ ќ ѕ —
   appears). This happens *before* any ASCII folding, so that Џ becomes dž and
   not a dropped letter.
2. Lower case (`casefold`).
3. Serbian/Croatian Latin letters are rewritten in Albanian orthography, which
   is how most registrants spell these names: dž→xh, đ→gj, ć→q, č→ç, š→sh,
   ž→zh (and Macedonian ǵ→gj, ḱ→q). Eth (Ð/ð), which is what Đ/đ become
   when cp1250 text is read as cp1252 and Đ's look-alike, is taken for đ.
4. ASCII folding: ë→e, ç→c and every other diacritic is dropped; letters
   with no decomposition are spelled out (æ→ae, ø→o, ß→ss, ł→l). Then the
   ASCII stand-in "dj" for đ becomes gj: after the folding, so that d + ĵ
   or ď + j become gj too and `normalise` is a fixed point.
5. Anything that is not a letter separates words (hyphen, apostrophe, dot,
   digits); runs of separators collapse into one space.

`phonetic` then merges the spellings that still differ between Albanian and
Serbian typing or between careful and hurried typing: xh/dz→x, gj→g, sh→s,
zh→z, q→c, dh→d, th→t, y→i, and a doubled letter counts once (ll, rr, and a
doubled-key typo, also inside a digraph: shh, gjj, ddz). It is deliberately
lossy: it only decides which records are compared, and what a pair is
compared on. ll and rr are letters of their own in Albanian, but Serbian
spelling has neither (Mulliqi is Mulići, Мулићи), so the key merges them with
l and r rather than split one person's Albanian and Serbian records.
"""

from __future__ import annotations

import re
import unicodedata

import cyrtranslit

__all__ = ["normalise", "phonetic", "tokens"]

_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_MACEDONIAN_ONLY = re.compile(r"[ЃЌЅѓќѕ]")
# Serbian/Croatian/Macedonian Latin → Albanian orthography (step 3).
_TO_ALBANIAN = (
    ("ddž", "xh"),  # a doubled d before dž is a doubled key (Ddžemaili is Džemaili)
    ("dž", "xh"),
    ("dz\u030c", "xh"),  # dz + combining caron, as some keyboards produce
    ("đ", "gj"),
    ("ð", "gj"),  # eth: Đ/đ read from cp1250 as cp1252, and Đ's look-alike (Ð casefolds to ð)
    ("ǵ", "gj"),
    ("ć", "q"),
    ("ḱ", "q"),
    ("č", "ç"),
    ("š", "sh"),
    ("ž", "zh"),
)
_DJ = re.compile(r"d+j")
# Latin letters Unicode gives no decomposition, so NFKD would leave them to be
# dropped as non-letters (Hænsel would become "h nsel").
_UNDECOMPOSABLE = str.maketrans(
    {"ı": "i", "ł": "l", "ø": "o", "ß": "ss", "æ": "ae", "œ": "oe", "þ": "th", "ħ": "h", "ŧ": "t", "ŀ": "l"}
)
# What UTF-8 looks like when read as Windows-1252 (ë → Ã«, ç → Ã§, š → Å¡): every
# two-byte letter of the names registrants type starts with one of these.
_MOJIBAKE = re.compile("[ÃÄÅÆÐ][\u0080-\u00ff\u0152-\u0178\u02c6-\u2122]")
_NON_LETTERS = re.compile(r"[^a-z]+")
# Phonetic folding (applied to the output of `normalise`), longest first.
_PHONETIC = (
    ("xh", "x"),
    ("dz", "x"),
    ("gj", "g"),
    ("sh", "s"),
    ("zh", "z"),
    ("ch", "c"),
    ("dh", "d"),
    ("th", "t"),
    ("q", "c"),
    ("y", "i"),
)
# A run of one letter → that letter. The look-behind and the empty replacement make `sub`
# skip the template expansion of r"\1", about half the cost of `phonetic`.
_DOUBLES = re.compile(r"(?<=([a-z]))\1+")
# Doubled letters that can sit inside a digraph (shh, xhh, gjj, dzz) or before one (ddz,
# ddh). Collapsed before the digraphs are folded; any other run can wait until after.
_DIGRAPH_DOUBLES = re.compile(r"([dhjz])\1+")


def _undo_mojibake(text: str) -> str:
    """UTF-8 text that was read as Windows-1252 on the way (Ã« for ë), decoded again.
    Only when the whole string round-trips strictly: real names in Latin-1 letters
    (Ãngel, Ðorđe) do not, and stay as typed."""
    if not _MOJIBAKE.search(text):
        return text
    try:
        return text.encode("cp1252").decode("utf-8")
    except UnicodeError:
        return text


def normalise(name: str) -> str:
    """Return the canonical Latin, lower-case, ASCII form of a typed name."""
    if not isinstance(name, str):
        raise TypeError("name must be a str")
    text = unicodedata.normalize("NFC", _undo_mojibake(unicodedata.normalize("NFC", name)))
    if _CYRILLIC.search(text):
        lang = "mk" if _MACEDONIAN_ONLY.search(text) else "sr"
        text = cyrtranslit.to_latin(text, lang)
    text = unicodedata.normalize("NFC", text.casefold())
    for src, dst in _TO_ALBANIAN:
        text = text.replace(src, dst)
    folded = unicodedata.normalize("NFKD", text)
    ascii_only = "".join(ch for ch in folded if not unicodedata.combining(ch))
    if not ascii_only.isascii():
        ascii_only = ascii_only.translate(_UNDECOMPOSABLE)
    # Only now, with every mark dropped and compatibility form folded, is each "dj" in
    # sight (d + ĵ, ď + j, full-width ｄｊ): done earlier, a second pass would still change it.
    if "dj" in ascii_only:
        ascii_only = _DJ.sub("gj", ascii_only)  # d+: a doubled d (ddj) is a doubled key too
    return _NON_LETTERS.sub(" ", ascii_only).strip()


def phonetic(normalised: str) -> str:
    """Fold a `normalise`d name into its blocking/comparison key."""
    text = normalised
    # A doubled key inside a digraph counts once too: Shhala, Hoxhha, Gjjoka and Ddzemaili
    # have the keys of Shala, Hoxha, Gjoka and Dzemaili. (Only these four runs need to go
    # first; the `in` tests keep the regex off the names that have none, nearly all.)
    if "hh" in text or "jj" in text or "zz" in text or "dd" in text:
        text = _DIGRAPH_DOUBLES.sub(r"\1", text)
    for src, dst in _PHONETIC:
        text = text.replace(src, dst)
    # After folding, so that letters folded next to their like (qc, yi) count once as well.
    return _DOUBLES.sub("", text)


def tokens(key: str) -> list[str]:
    """The words of a key (a compound family name has several)."""
    return key.split()
