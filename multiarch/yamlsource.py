"""YAML documents that remember where each value came from.

`load_marked` builds plain Python data and a map from each value's path (`("platforms", 1,
"runner")`) to its line and column, so a pydantic validation error on that path becomes
`spec.yaml:12:13: platforms[1].runner: unknown scheme 'sshh'`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from yaml.constructor import SafeConstructor

from builder.errors import SpecError

PathKey = tuple[str | int, ...]
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Position:
    line: int
    column: int


@dataclass
class MarkedDocument:
    file: str
    data: Any
    values: dict[PathKey, Position] = field(default_factory=dict)
    """Where each value starts."""
    keys: dict[PathKey, Position] = field(default_factory=dict)
    """Where the key naming each mapping value starts."""

    def error(self, path: PathKey, message: str, *, at_key: bool = False) -> SpecError:
        position = self.position(path, at_key=at_key)
        where = format_path(path)
        text = f"{where}: {message}" if where else message
        return SpecError(text, file=self.file, line=position.line, column=position.column)

    def position(self, path: PathKey, *, at_key: bool = False) -> Position:
        marks = self.keys if at_key and path in self.keys else self.values
        while path not in marks and path:
            path = path[:-1]
        return marks.get(path, Position(1, 1))


def format_path(path: PathKey) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _position(node: yaml.Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


def load_marked(path: Path, *, transform: Callable[[str], str] | None = None) -> MarkedDocument:
    """Parse one YAML file; `transform` rewrites every string scalar (env expansion)."""
    file = str(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SpecError("file not found", file=file) from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(f"cannot read: {err}", file=file) from None
    return parse_marked(text, file, transform=transform)


def parse_marked(
    text: str, file: str, *, transform: Callable[[str], str] | None = None
) -> MarkedDocument:
    """Parse one YAML document; errors name `file` and the line in `text`."""
    loader = Loader(text)
    try:
        root = loader.get_single_node()
        document = MarkedDocument(file=file, data=None)
        document.data = {} if root is None else _construct(loader, root, (), document, transform)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = " ".join(p for p in (err.context, err.problem) if p) or "invalid YAML"
        raise SpecError(
            f"invalid YAML: {problem}",
            file=file,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except yaml.YAMLError as err:
        raise SpecError(f"invalid YAML: {err}", file=file) from None
    finally:
        loader.dispose()
    if not isinstance(document.data, dict):
        raise SpecError("the document must be a mapping of fields", file=file, line=1, column=1)
    return document


def _construct(
    loader: SafeConstructor,
    node: yaml.Node,
    path: PathKey,
    document: MarkedDocument,
    transform: Callable[[str], str] | None,
) -> Any:
    document.values[path] = _position(node)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)):
                raise document.error(path, "mapping keys must be plain scalars")
            key = str(key)
            child = (*path, key)
            if key in result:
                document.keys[child] = _position(key_node)
                raise document.error(child, "duplicate key", at_key=True)
            document.keys[child] = _position(key_node)
            result[key] = _construct(loader, value_node, child, document, transform)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(loader, item, (*path, i), document, transform)
            for i, item in enumerate(node.value)
        ]
    value = loader.construct_object(node, deep=True)
    if transform is not None and isinstance(value, str):
        value = transform(value)
    return value


def validate(document: MarkedDocument, model: type[M], context: Mapping[str, Any]) -> M:
    """Validate the document's data; the first error (in file order) as a SpecError."""
    try:
        return model.model_validate(document.data, context=dict(context))
    except ValidationError as err:
        raise _first_error(document, err, field_names(model)) from None


def _first_error(document: MarkedDocument, err: ValidationError, names: set[str]) -> SpecError:
    found: list[tuple[Position, str, PathKey]] = []
    for detail in err.errors(include_url=False):
        path, exists = _data_path(document.data, detail["loc"])
        kind = detail["type"]
        at_key = False
        if kind == "extra_forbidden":
            close = difflib.get_close_matches(str(path[-1]), sorted(names), n=1, cutoff=0.5)
            message = "unknown field" + (f" (did you mean {close[0]!r}?)" if close else "")
            at_key = True
        elif kind == "missing":
            message = "required field is missing"
        else:
            message = _message(detail)
        position = document.position(path if exists else path[:-1], at_key=at_key)
        found.append((position, message, path))
    found.sort(key=lambda item: (item[0].line, item[0].column))
    position, message, path = found[0]
    if len(found) > 1:
        message += f" (and {len(found) - 1} more problem{'s' if len(found) > 2 else ''})"
    where = format_path(path)
    return SpecError(
        f"{where}: {message}" if where else message,
        file=document.file,
        line=position.line,
        column=position.column,
    )


def _message(detail: ErrorDetails) -> str:
    if detail["type"] in ("value_error", "assertion_error") and "error" in detail.get("ctx", {}):
        return str(detail["ctx"]["error"])
    return str(detail["msg"][0].lower() + detail["msg"][1:])


def _data_path(data: Any, loc: Iterable[str | int]) -> tuple[PathKey, bool]:
    """The part of a pydantic location that names real data (union and validator tags
    dropped), and whether the whole path exists in the data."""
    path: list[str | int] = []
    current = data
    pending: str | int | None = None
    for part in loc:
        if isinstance(current, dict) and str(part) in current:
            path.append(str(part))
            current = current[str(part)]
            pending = None
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path.append(part)
            current = current[part]
            pending = None
        elif pending is None and isinstance(current, dict) and isinstance(part, str):
            pending = part
    if pending is not None:
        return (*path, pending), False
    return tuple(path), True


def field_names(model: type[BaseModel]) -> set[str]:
    names: set[str] = set()
    seen: set[type] = set()

    def visit(cls: type[BaseModel]) -> None:
        if cls in seen:
            return
        seen.add(cls)
        for name, info in cls.model_fields.items():
            names.add(info.alias or name)
            for inner in _models_in(info.annotation):
                visit(inner)

    visit(model)
    return names


def _models_in(annotation: Any) -> Iterable[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        yield from _models_in(arg)
    origin = getattr(annotation, "__origin__", None)
    if origin is not None and origin is not annotation:
        yield from _models_in(origin)
