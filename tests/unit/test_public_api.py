"""The public API is what `builder.__all__` and `multiarch.__all__` list, recorded with
signatures and fields in public_api.txt. A change to it fails here until it is recorded,
and recording (`python -m tests.unit.test_public_api --record`) refuses a change that
CHANGELOG.md's Unreleased section does not name."""

from __future__ import annotations

import dataclasses
import inspect
import re
import subprocess
import sys
import types
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

import builder
import builder.events
import multiarch

ROOT = Path(__file__).resolve().parents[2]
RECORD = Path(__file__).with_name("public_api.txt")
CHANGELOG = ROOT / "CHANGELOG.md"
PACKAGES: tuple[types.ModuleType, ...] = (builder, builder.events, multiarch)
"""The packages' own surface, and the event model every progress callback receives."""


def surface() -> list[str]:
    """One line per public name, indented lines for its fields, methods and properties."""
    lines: list[str] = []
    for package in PACKAGES:
        for name in sorted(package.__all__):
            lines += describe(f"{package.__name__}.{name}", getattr(package, name))
    return lines


def describe(qualified: str, obj: object) -> list[str]:
    if isinstance(obj, types.UnionType | types.GenericAlias) or type(obj).__module__ in (
        "typing", "collections.abc", "_collections_abc"
    ):  # a type alias
        return [f"{qualified} = {type_name(obj)}"]
    if inspect.isclass(obj):
        return [f"class {qualified}", *members(obj)]
    if callable(obj):
        return [f"def {qualified}{inspect.signature(obj)}"]
    return [f"{qualified}: {type(obj).__name__}"]


def members(cls: type) -> list[str]:
    lines = []
    if issubclass(cls, BaseModel):
        for name, field in cls.model_fields.items():
            default = "" if field.default is PydanticUndefined else f" = {field.default!r}"
            if field.default_factory is not None:
                default = " = <factory>"
            lines.append(f"    {name}: {type_name(field.annotation)}{default}")
    elif dataclasses.is_dataclass(cls):
        lines += [f"    {f.name}: {f.type}" for f in dataclasses.fields(cls)]
    elif issubclass(cls, BaseException):
        lines.append(f"    def __init__{inspect.signature(cls.__init__)}")
    for name, value in sorted(vars(cls).items()):
        if name.startswith("_") or name.startswith("model_"):
            continue
        if isinstance(value, property):
            lines.append(f"    property {name}")
        elif isinstance(value, str):
            lines.append(f"    {name} = {value!r}")
        elif inspect.isfunction(value):
            lines.append(f"    def {name}{inspect.signature(value)}")
    return lines


def type_name(annotation: object) -> str:
    if isinstance(annotation, type) and not isinstance(annotation, types.GenericAlias):
        return annotation.__qualname__
    return re.sub(r"\b[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*\.(?=[A-Z])", "", repr(annotation))


def changed_names(old: list[str], new: list[str]) -> set[str]:
    """Top-level names (builder.build, multiarch.Spec) whose block differs."""

    def blocks(lines: list[str]) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        current = ""
        for line in lines:
            if not line.startswith(" "):
                current = re.split(r"[ (:]", line.removeprefix("class ").removeprefix("def "))[0]
            result.setdefault(current, []).append(line)
        return result

    before, after = blocks(old), blocks(new)
    return {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}


def mentions(text: str, qualified: str) -> bool:
    """`builder.build`, or `StepStarted` for the classes of builder.events, in backticks."""
    package, name = qualified.rsplit(".", 1)
    prefix = "" if package == "builder.events" else re.escape(package) + r"\."
    return re.search(rf"`{prefix}{re.escape(name)}\b", text) is not None


def unreleased() -> str:
    text = CHANGELOG.read_text()
    return text.split("## [Unreleased]", 1)[1].split("\n## [", 1)[0]


def test_every_public_name_is_listed_in_all() -> None:
    for package in (builder, multiarch):
        public = {
            name
            for name, value in vars(package).items()
            if not name.startswith("_") and not isinstance(value, types.ModuleType)
        }
        unlisted = public - set(package.__all__)
        assert not unlisted, f"{package.__name__}: not in __all__: {unlisted}"
        for name in package.__all__:
            getattr(package, name)  # every listed name resolves


def test_importing_the_packages_loads_no_heavy_library() -> None:
    """The API loads on first use: `import builder, multiarch` costs what it did before."""
    heavy = ("httpx", "pydantic", "rich", "yaml", "builder.api", "multiarch.api")
    probe = f"import builder, multiarch, sys; print([m for m in {heavy!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_python_dash_m_multiarch_is_the_command() -> None:
    done = subprocess.run([sys.executable, "-m", "multiarch", "--version"], capture_output=True,
                          text=True, check=True)  # fmt: skip
    assert done.stdout.strip() == f"multiarch, version {multiarch.__version__}"
    usage = subprocess.run([sys.executable, "-m", "multiarch", "--help"], capture_output=True,
                           text=True, check=True).stdout  # fmt: skip
    assert usage.startswith("Usage: multiarch [OPTIONS] COMMAND") and "executor" in usage


def test_public_surface_is_recorded() -> None:
    recorded = RECORD.read_text().splitlines()
    current = surface()
    assert current == recorded, (
        f"the public API changed: {sorted(changed_names(recorded, current))}; describe it in "
        "CHANGELOG.md's Unreleased section, then run "
        "`python -m tests.unit.test_public_api --record`"
    )


def test_changelog_names_every_public_name() -> None:
    text = CHANGELOG.read_text()
    for package in PACKAGES:
        for name in package.__all__:
            assert mentions(text, f"{package.__name__}.{name}"), f"CHANGELOG.md never names {name}"


def record() -> None:
    current = surface()
    old = RECORD.read_text().splitlines() if RECORD.exists() else []
    section = unreleased()
    unnamed = sorted(n for n in changed_names(old, current) if not mentions(section, n))
    if unnamed:
        sys.exit(f"CHANGELOG.md's Unreleased section does not name: {', '.join(unnamed)}")
    RECORD.write_text("\n".join(current) + "\n")
    print(f"recorded {len(current)} lines in {RECORD.relative_to(ROOT)}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python -m tests.unit.test_public_api --record")
    record()
