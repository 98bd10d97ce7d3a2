"""Go's fmt verbs as BuildKit uses them in history entries (`%q` of a string slice, `%v`,
time.Duration), so our `created_by` strings are byte-for-byte BuildKit's."""

from __future__ import annotations

_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t",
            "\v": r"\v", "\\": r"\\", '"': r"\""}  # fmt: skip


def quote(text: str) -> str:
    """strconv.Quote: printable characters kept, the rest escaped."""
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def quote_list(items: list[str] | None) -> str:
    """`fmt.Sprintf("%q", []string{...})`."""
    return "[" + " ".join(quote(i) for i in items or []) + "]"


def plain_list(items: list[str] | None) -> str:
    """`fmt.Sprintf("%v", []string{...})`."""
    return "[" + " ".join(items or []) + "]"


def duration(ns: int | None) -> str:
    """time.Duration.String()."""
    ns = ns or 0
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _trim(ns / size) + unit
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = _trim(rest / 10**9)
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{sign}{minutes}m{seconds}s"
    return f"{sign}{seconds}s"


def _trim(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"
