"""The semantic guard: cheap lexical checks that refuse a vector match whose texts differ in a way
embeddings are known to blur. Pure, no I/O.

`refusal(a, b)` returns None when the candidate may be served, else the name of the first check that
failed. Each check extracts a small set of features from both texts and compares them:

| check        | refuses when the two texts differ in ...                                              |
|--------------|---------------------------------------------------------------------------------------|
| numbers      | numbers (digits, 1,000 = 1000, 1.50 = 1.5), number words (two, dozen, twice), ordinals|
| dates        | month and weekday names, today / tomorrow / yesterday / tonight                       |
| negation     | how many negations they carry (not, n't, no, never, without, none, nor, cannot, ...)  |
| entities     | a capitalized name (not a sentence's first word) or an acronym that the other text    |
|              | does not contain in any case (France vs Germany; AWS vs GCP)                          |
| quoted       | quoted strings ("...", '...', `...`)                                                  |
| code         | code identifiers (snake_case, camelCase, dotted.names, --flags, paths, calls())       |
| scope        | scope words by group: all/every/each, only/just/solely, except/excluding/other than,  |
|              | some/few/several, both/either, including/also                                         |
| comparatives | direction words by group: more/higher/faster..., less/lower/slower..., most vs least   |
| units        | units of measure and currencies (km vs miles, °C vs °F, $ vs €, %, GB vs MB)          |
| antonyms     | the two sides of a known pair (enable/disable, add/remove, better/worse, pros/cons...)|

They are deliberately strict: a refused paraphrase costs one provider call, a wrongly served
trap costs a wrong answer. `bench/semantic_eval` measures what each check buys.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Final


def _w(words: str) -> list[str]:
    return words.split()


_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:['\u2019][A-Za-z]+)?")
_NUMBER = re.compile(r"(?<![A-Za-z])\d+(?:[.,]\d+)*")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\n]\s*|[\"'(\[]\s*)$")

_NUMBER_WORDS: Final = {
    w: i
    for i, w in enumerate(_w(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty")
    )
} | {
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
    "hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9, "trillion": 10**12,
    "dozen": 12, "half": 0.5, "quarter": 0.25, "twice": 2, "double": 2, "triple": 3, "once": 1, "thrice": 3,
    "single": 1, "pair": 2, "couple": 2,
}
_ORDINALS: Final = {
    w: i + 1
    for i, w in enumerate(_w("first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth"))
}
_ORDINAL_DIGITS = re.compile(r"(?<![A-Za-z0-9])(\d+)(?:st|nd|rd|th)\b")
_MONTHS: Final = {
    **{m: i for i, m in enumerate(_w(
        "january february march april may june july august september october november december"), 1)},
    **{m: i for i, m in enumerate(_w("jan feb mar apr may jun jul aug sep oct nov dec"), 1)},
    "sept": 9,
}
_WEEKDAYS: Final = {
    **{d: i for i, d in enumerate(_w("monday tuesday wednesday thursday friday saturday sunday"))},
    **{d: i for i, d in enumerate(_w("mon tue wed thu fri sat sun"))},
}
_RELATIVE_DAYS: Final = frozenset({"today", "tomorrow", "yesterday", "tonight", "weekend", "weekday"})
_AMBIGUOUS_DATES: Final = frozenset({"may", "mar", "sun", "sat", "wed", "jan"})  # only as dates when capitalized
_NEGATIONS: Final = frozenset(
    {"not", "no", "never", "none", "nobody", "nothing", "nowhere", "neither", "nor", "without", "cannot",
     "cant", "dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent", "wont", "wouldnt", "shouldnt",
     "couldnt", "hasnt", "havent", "hadnt", "mustnt", "neednt", "aint", "lacking", "excluding"}
)
_SCOPE: Final = {
    **dict.fromkeys(("all", "every", "each", "entire", "whole", "everything", "everyone", "always"), "universal"),
    **dict.fromkeys(("only", "just", "solely", "exclusively", "merely"), "restrictive"),
    **dict.fromkeys(("except", "excluding", "excluded", "besides"), "exception"),
    **dict.fromkeys(("some", "few", "several", "sometimes", "certain"), "partial"),
    **dict.fromkeys(("both", "either"), "pair"),
    **dict.fromkeys(("including", "include", "includes", "also", "too", "plus"), "inclusion"),
    **dict.fromkeys(("most", "majority", "mostly"), "majority"),
}
_COMPARATIVES: Final = {
    **dict.fromkeys(
        ("more", "higher", "greater", "larger", "bigger", "faster", "longer", "taller", "older", "heavier",
         "stronger", "increase", "increasing", "above", "maximum", "max", "maximize", "exceed",
         "exceeds", "richer", "hotter", "warmer", "wider", "deeper", "louder", "later"),
        "up"),
    **dict.fromkeys(
        ("less", "fewer", "lower", "smaller", "slower", "shorter", "younger", "lighter", "weaker", "decrease",
         "decreasing", "below", "minimum", "min", "minimize", "poorer", "colder", "cooler", "narrower",
         "shallower", "quieter", "earlier", "cheaper"),
        "down"),
    **dict.fromkeys(("most", "highest", "largest", "biggest", "fastest", "longest", "oldest", "greatest"), "top"),
    **dict.fromkeys(("least", "lowest", "smallest", "slowest", "shortest", "youngest", "cheapest"), "bottom"),
}
_UNITS: Final = {
    **dict.fromkeys(("km", "kilometer", "kilometers", "kilometre", "kilometres"), "km"),
    **dict.fromkeys(("mi", "mile", "miles"), "mile"),
    **dict.fromkeys(("m", "meter", "meters", "metre", "metres"), "m"),
    **dict.fromkeys(("cm", "centimeter", "centimeters", "centimetre", "centimetres"), "cm"),
    **dict.fromkeys(("mm", "millimeter", "millimeters"), "mm"),
    **dict.fromkeys(("ft", "foot", "feet"), "ft"),
    **dict.fromkeys(("in", "inch", "inches"), "in"),
    **dict.fromkeys(("yd", "yard", "yards"), "yd"),
    **dict.fromkeys(("kg", "kilogram", "kilograms", "kilo", "kilos"), "kg"),
    **dict.fromkeys(("g", "gram", "grams"), "g"),
    **dict.fromkeys(("lb", "lbs", "pound", "pounds"), "lb"),
    **dict.fromkeys(("oz", "ounce", "ounces"), "oz"),
    **dict.fromkeys(("l", "liter", "liters", "litre", "litres"), "l"),
    **dict.fromkeys(("ml", "milliliter", "milliliters"), "ml"),
    **dict.fromkeys(("gallon", "gallons", "gal"), "gal"),
    **dict.fromkeys(("celsius", "°c", "c°"), "c"),
    **dict.fromkeys(("fahrenheit", "°f"), "f"),
    **dict.fromkeys(("kelvin",), "k"),
    **dict.fromkeys(("usd", "$", "dollar", "dollars"), "usd"),
    **dict.fromkeys(("eur", "€", "euro", "euros"), "eur"),
    **dict.fromkeys(("gbp", "£", "sterling"), "gbp"),
    **dict.fromkeys(("jpy", "¥", "yen"), "jpy"),
    **dict.fromkeys(("%", "percent", "percentage"), "%"),
    **dict.fromkeys(("kb", "kilobyte", "kilobytes"), "kb"),
    **dict.fromkeys(("mb", "megabyte", "megabytes"), "mb"),
    **dict.fromkeys(("gb", "gigabyte", "gigabytes"), "gb"),
    **dict.fromkeys(("tb", "terabyte", "terabytes"), "tb"),
    **dict.fromkeys(("ms", "millisecond", "milliseconds"), "ms"),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), "s"),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), "min"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "h"),
    **dict.fromkeys(("day", "days"), "day"),
    **dict.fromkeys(("week", "weeks"), "week"),
    **dict.fromkeys(("month", "months"), "month"),
    **dict.fromkeys(("year", "years"), "year"),
    **dict.fromkeys(("mph",), "mph"),
    **dict.fromkeys(("kmh", "kph"), "kmh"),
    **dict.fromkeys(("w", "watt", "watts"), "w"),
    **dict.fromkeys(("kw", "kilowatt", "kilowatts"), "kw"),
    **dict.fromkeys(("kwh",), "kwh"),
    **dict.fromkeys(("v", "volt", "volts"), "v"),
    **dict.fromkeys(("hz", "hertz"), "hz"),
    **dict.fromkeys(("ghz",), "ghz"),
    **dict.fromkeys(("mhz",), "mhz"),
    **dict.fromkeys(("calorie", "calories", "kcal"), "kcal"),
}
_SHORT_UNITS: Final = frozenset({"m", "g", "l", "s", "h", "w", "v", "in", "mi", "min", "c"})  # units only right after a number
_ANTONYM_PAIRS: Final = (
    ("enable", "disable"), ("add", "remove"), ("encrypt", "decrypt"), ("import", "export"), ("upload", "download"),
    ("start", "stop"), ("open", "close"), ("buy", "sell"), ("install", "uninstall"), ("compress", "decompress"),
    ("encode", "decode"), ("serialize", "deserialize"), ("push", "pull"), ("win", "lose"), ("true", "false"),
    ("left", "right"), ("input", "output"), ("accept", "reject"), ("allow", "deny"), ("allow", "block"),
    ("love", "hate"), ("north", "south"), ("east", "west"), ("lock", "unlock"), ("mount", "unmount"),
    ("connect", "disconnect"), ("subscribe", "unsubscribe"), ("show", "hide"), ("send", "receive"),
    ("read", "write"), ("create", "delete"), ("insert", "delete"), ("expand", "collapse"), ("zip", "unzip"),
    ("ascending", "descending"), ("asc", "desc"), ("horizontal", "vertical"), ("inner", "outer"),
    ("public", "private"), ("sync", "async"), ("synchronous", "asynchronous"), ("client", "server"),
    ("login", "logout"), ("pass", "fail"),
    ("success", "failure"), ("valid", "invalid"), ("legal", "illegal"), ("possible", "impossible"),
    ("safe", "unsafe"), ("healthy", "unhealthy"), ("happy", "sad"), ("rise", "fall"), ("gain", "loss"),
    ("profit", "loss"), ("arrive", "depart"), ("arrival", "departure"),
    ("male", "female"), ("men", "women"), ("boy", "girl"), ("hot", "cold"), ("wet", "dry"),
    ("early", "late"), ("first", "last"), ("begin", "end"), ("beginning", "end"), ("start", "end"),
    ("head", "tail"), ("top", "bottom"), ("forward", "backward"),
    ("maximum", "minimum"), ("max", "min"), ("increase", "decrease"), ("before", "after"), ("past", "future"),
    ("old", "new"), ("sum", "difference"), ("multiply", "divide"), ("plus", "minus"), ("positive", "negative"),
    ("even", "odd"), ("uppercase", "lowercase"), ("upper", "lower"), ("include", "exclude"),
    ("merge", "split"), ("join", "split"), ("attach", "detach"), ("freeze", "unfreeze"), ("grant", "revoke"),
    ("approve", "reject"), ("online", "offline"), ("visible", "invisible"), ("better", "worse"), ("best", "worst"),
    ("improve", "worsen"), ("advantage", "disadvantage"), ("pro", "con"), ("benefit", "drawback"),
    ("in", "out"), ("on", "off"), ("up", "down"),  # zoom in/out, turn on/off, scale up/down
)
_ANTONYMS: Final[dict[str, tuple[int, int]]] = {}
for _i, (_a, _b) in enumerate(_ANTONYM_PAIRS):
    _ANTONYMS.setdefault(_a, (_i, 0))
    _ANTONYMS.setdefault(_b, (_i, 1))
_COMMON_OPENERS: Final = frozenset(_w(
    """a an the i i'm i've i'd i'll im ive id my me we our us you your it its it's this that these those there
    here what what's whats which who whom whose when where why how how's is are was were be been am do does did
    done can could would should will shall may might must have has had please pls tell give show explain write
    list describe summarize summarise compare define find make create generate help translate convert calculate
    compute name suggest recommend provide draft rewrite fix check let let's lets and or but so if then also
    hey hi hello thanks thank ok okay yes yeah no not is there any some in on at for from to of by with about
    as into over after before during while since because although though just only all every each both either
    neither most more less few many much one two three first second next last other another such same
    should i'd could you can you would you quick briefly brief simple simply short detailed again now today
    tomorrow yesterday dear sorry actually basically really well why's where's who's when's
    """)
)
_QUOTED = re.compile(r"\"([^\"\n]{1,200})\"|“([^”\n]{1,200})”|`([^`\n]{1,200})`|(?<![A-Za-z])'([^'\n]{1,200})'(?![A-Za-z])")
_CODE = re.compile(
    r"(?:--?[A-Za-z][\w-]*)"  # --flags
    r"|(?:[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)+)"  # dotted.names, file.ext
    r"|(?:[A-Za-z_]\w*\()"  # calls(
    r"|(?:\b[a-z]+_[a-z0-9_]+\b)"  # snake_case
    r"|(?:\b[a-z]+[A-Z][A-Za-z0-9]*\b)"  # camelCase
    r"|(?:(?:~|\.{1,2})?/[\w.-]+(?:/[\w.-]+)+)"  # paths
)


def _words(text: str) -> list[tuple[str, int]]:
    """(word, offset) pairs; apostrophes kept inside words."""
    return [(m.group(0), m.start()) for m in _WORD.finditer(text)]


def _plain(word: str) -> str:
    return word.lower().replace("\u2019", "'").replace("'", "")


def numbers(text: str) -> Counter[str]:
    out: Counter[str] = Counter()
    for m in _ORDINAL_DIGITS.finditer(text):
        out["#" + str(int(m.group(1)))] += 1
    stripped = _ORDINAL_DIGITS.sub(" ", text)
    for m in _NUMBER.finditer(stripped):
        raw = m.group(0)
        if "," in raw and re.fullmatch(r"\d{1,3}(?:,\d{3})+", raw):
            raw = raw.replace(",", "")
        raw = raw.replace(",", ".")
        if "." in raw:
            whole, _, frac = raw.partition(".")
            frac = frac.rstrip("0")
            raw = whole.lstrip("0") or "0" if not frac else f"{whole.lstrip('0') or '0'}.{frac}"
        else:
            raw = raw.lstrip("0") or "0"
        out[raw] += 1
    for word, _ in _words(text):
        w = word.lower()
        if w in _NUMBER_WORDS:
            out[str(_NUMBER_WORDS[w])] += 1
        elif w in _ORDINALS:
            out["#" + str(_ORDINALS[w])] += 1
    return out


def dates(text: str) -> set[str]:
    out: set[str] = set()
    for word, _ in _words(text):
        w = word.lower()
        if w in _AMBIGUOUS_DATES and not word[0].isupper():
            continue
        if w in _MONTHS:
            out.add(f"month{_MONTHS[w]}")
        elif w in _WEEKDAYS:
            out.add(f"day{_WEEKDAYS[w]}")
        elif w in _RELATIVE_DAYS:
            out.add(w)
    return out


def negations(text: str) -> int:
    count = 0
    for word, _ in _words(text):
        lower = word.lower().replace("\u2019", "'")
        if _plain(word) in _NEGATIONS or lower.endswith("n't"):
            count += 1
    return count


def entities(text: str) -> set[str]:
    """Lower-cased names: capitalized words inside a sentence (a sentence's first word is capitalized
    anyway: "Paris or Rome?" relies on "Rome"), acronyms (AWS) and mixed-case words (iPhone)."""
    out: set[str] = set()
    for word, start in _words(text):
        base = re.sub(r"['\u2019]s$", "", word)
        if len(base) < 2:
            continue
        lower = base.lower()
        acronym = base.isupper() or (base[0].islower() and any(c.isupper() for c in base[1:]))
        name = base[0].isupper() and lower not in _COMMON_OPENERS and _SENTENCE_START.search(text[:start]) is None
        if acronym or name:
            out.add(lower)
    return out


def quoted(text: str) -> set[str]:
    return {next(g for g in m.groups() if g is not None).strip().lower() for m in _QUOTED.finditer(text)}


def code(text: str) -> set[str]:
    return {m.group(0).rstrip("(").lower() for m in _CODE.finditer(text)}


def _groups(text: str, table: dict[str, str]) -> set[str]:
    return {table[w] for w in (_plain(word) for word, _ in _words(text)) if w in table}


def scope(text: str) -> set[str]:
    return _groups(text, _SCOPE)


def comparatives(text: str) -> set[str]:
    return _groups(text, _COMPARATIVES)


def units(text: str) -> set[str]:
    out = {_UNITS[s] for s in ("$", "€", "£", "¥", "%") if s in text}
    for m in re.finditer(r"(\d)?\s*(°[CFcf]|[A-Za-z]+)", text):
        w = m.group(2).lower()
        unit = _UNITS.get(w)
        if unit is None:
            continue
        if w in _SHORT_UNITS and m.group(1) is None:
            continue
        out.add(unit)
    return out


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = word[: -len(suffix)]
            if suffix == "ing" and stem.endswith(stem[-1] * 2):
                stem = stem[:-1]
            return stem
    return word


def antonyms(text: str) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for word, _ in _words(text):
        w = _plain(word)
        hit = _ANTONYMS.get(w) or _ANTONYMS.get(_stem(w)) or _ANTONYMS.get(_stem(w) + "e")
        if hit is not None:
            out.setdefault(hit[0], set()).add(hit[1])
    return out


def _entities_differ(a: str, b: str) -> bool:
    ea, eb = entities(a), entities(b)
    if ea == eb:
        return False
    la = {_plain(w) for w, _ in _words(a)} | {w.lower() for w, _ in _words(a)}
    lb = {_plain(w) for w, _ in _words(b)} | {w.lower() for w, _ in _words(b)}
    return any(e not in lb for e in ea) or any(e not in la for e in eb)


def _antonyms_differ(a: str, b: str) -> bool:
    pa, pb = antonyms(a), antonyms(b)
    return any(pair in pb and sides != pb[pair] for pair, sides in pa.items())


CHECKS: Final[tuple[tuple[str, Callable[[str, str], bool]], ...]] = (
    ("numbers", lambda a, b: numbers(a) != numbers(b)),
    ("dates", lambda a, b: dates(a) != dates(b)),
    ("negation", lambda a, b: negations(a) != negations(b)),
    ("entities", _entities_differ),
    ("quoted", lambda a, b: quoted(a) != quoted(b)),
    ("code", lambda a, b: code(a) != code(b)),
    ("scope", lambda a, b: scope(a) != scope(b)),
    ("comparatives", lambda a, b: comparatives(a) != comparatives(b)),
    ("units", lambda a, b: units(a) != units(b)),
    ("antonyms", _antonyms_differ),
)
"""(name, differs(a, b)) in the order they run; cheap ones first."""


def refusal(a: str, b: str) -> str | None:
    """None when `b` may answer for `a` lexically; else the name of the first check that refused."""
    if a == b:
        return None
    for name, differs in CHECKS:
        if differs(a, b):
            return name
    return None
