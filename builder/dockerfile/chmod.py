"""COPY/ADD --chmod values: octal (`0755`) or symbolic (`+x`, `u=rwX,go=rX`, `g=u`), as
BuildKit reads them since Dockerfile 1.14 — chmod(1)'s grammar with a umask of 0 (BSD
setmode/getmode, which BuildKit vendors as tonistiigi/dchapes-mode). A symbolic mode is
applied to each copied file and directory against its own mode; `X` adds x only to
directories and to files that already have an x bit.
"""

from __future__ import annotations

from dataclasses import dataclass

_SUID, _SGID, _STICKY = 0o4000, 0o2000, 0o1000
_RWXU, _RWXG, _RWXO = 0o700, 0o070, 0o007
_READ, _WRITE, _EXEC = 0o444, 0o222, 0o111
_STANDARD = _SUID | _SGID | _RWXU | _RWXG | _RWXO
_ALL = 0xFFFF  # ^umask with umask 0, as the C code's mode_t
_USER, _GROUP, _OTHER, _SET, _CLEAR = 1, 2, 4, 8, 16  # copy-from-class command flags


class ChmodError(ValueError):
    pass


@dataclass(frozen=True)
class _Command:
    op: str  # + - X, or u g o (copy that class's bits)
    bits: int
    flags: int = 0


@dataclass(frozen=True)
class Chmod:
    text: str
    octal: int | None
    commands: tuple[_Command, ...] = ()

    def apply(self, mode: int, is_dir: bool) -> int:
        """The permission bits (incl. setuid/setgid/sticky) for an entry whose own are `mode`."""
        if self.octal is not None:
            return self.octal
        old = new = mode & 0o7777
        for c in self.commands:
            if c.op == "+":
                new |= c.bits
            elif c.op == "-":
                new &= ~c.bits
            elif c.op == "X":
                if old & _EXEC or is_dir:
                    new |= c.bits
            else:
                source = {"u": (new & _RWXU) >> 6, "g": (new & _RWXG) >> 3, "o": new & _RWXO}
                new = _copy_class(new, c, source[c.op])
        return new & 0o7777


def _copy_class(mode: int, c: _Command, value: int) -> int:
    shifts = [(flag, shift) for flag, shift in ((_USER, 6), (_GROUP, 3), (_OTHER, 0))
              if c.flags & flag]
    if c.flags & _CLEAR:
        cleared = _RWXO if c.flags & _SET else value
        for _, shift in shifts:
            mode &= ~((cleared << shift) & c.bits)
    if c.flags & _SET:
        for _, shift in shifts:
            mode |= (value << shift) & c.bits
    return mode


def parse_chmod(text: str) -> Chmod:
    if not text:
        raise ChmodError("invalid chmod parameter: it is empty")
    if text[0].isdigit():
        try:
            value = int(text, 8)
        except ValueError:
            value = -1
        if not 0 <= value <= 0o7777:
            raise ChmodError(f"invalid chmod parameter: '{text}'. it should be octal string "
                             "and between 0 and 07777")
        return Chmod(text, value)
    return Chmod(text, None, tuple(_Parser(text).commands()))


class _Parser:
    """chmod(1)'s symbolic grammar: clauses `[ugoa]*([-+=]([rwxXst]*|[ugo]))+` joined by
    commas, parsed as BSD setmode(3) does."""

    def __init__(self, text: str) -> None:
        self.text, self.i = text, 0
        self.out: list[_Command] = []

    def _peek(self) -> str:
        return self.text[self.i] if self.i < len(self.text) else ""

    def _fail(self) -> ChmodError:
        return ChmodError(f"invalid chmod parameter: '{self.text}': invalid syntax")

    def commands(self) -> list[_Command]:
        equal_done = False
        while True:
            who = 0
            while self._peek() in ("a", "u", "g", "o"):
                who |= {"a": _STANDARD, "u": _SUID | _RWXU, "g": _SGID | _RWXG,
                        "o": _RWXO}[self._peek()]
                self.i += 1
            if not self._peek():
                raise self._fail()
            while True:  # one or more operator clauses for this `who`
                op = self._peek()
                self.i += 1
                if op not in ("+", "-", "="):
                    raise self._fail()
                if op == "=":
                    equal_done = False
                who &= ~_STICKY
                who, equal_done = self._perms(op, who, equal_done)
                if not self._peek():
                    return self.out
                if self._peek() == ",":
                    self.i += 1
                    break

    def _perms(self, op: str, who: int, equal_done: bool) -> tuple[int, bool]:
        perm = perm_x = 0
        while True:
            ch = self._peek()
            if ch == "r":
                perm |= _READ
            elif ch == "w":
                perm |= _WRITE
            elif ch == "x":
                perm |= _EXEC
            elif ch == "X":
                if op != "-":
                    perm_x = _EXEC
                else:
                    perm |= _EXEC
            elif ch in ("s", "t"):
                if who == 0 or who & ~_RWXO:
                    if ch == "s":
                        perm |= _SUID | _SGID
                    else:
                        who |= _STICKY
                        perm |= _STICKY
            elif ch in ("u", "g", "o"):
                if perm:
                    self._add(op, who, perm)
                    perm = 0
                if op == "=":
                    equal_done = True
                if perm_x:
                    self._add("X", who, perm_x)
                    perm_x = 0
                self._add_copy(ch, who, op)
            else:
                if perm or (op == "=" and not equal_done):
                    if op == "=":
                        equal_done = True
                    self._add(op, who, perm)
                if perm_x:
                    self._add("X", who, perm_x)
                return who, equal_done
            self.i += 1

    def _add(self, op: str, who: int, perm: int) -> None:
        if op == "=":
            self.out.append(_Command("-", who or _STANDARD))
            op = "+"
        self.out.append(_Command(op, (who or _ALL) & perm))

    def _add_copy(self, source: str, who: int, op: str) -> None:
        flags = {"+": _SET, "-": _CLEAR, "=": _SET | _CLEAR}[op]
        if who:
            flags |= ((_USER if who & 0o400 else 0) | (_GROUP if who & 0o040 else 0)
                      | (_OTHER if who & 0o004 else 0))
        else:
            flags |= _USER | _GROUP | _OTHER
        self.out.append(_Command(source, _ALL, flags))
