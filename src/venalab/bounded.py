"""Reading untrusted JSON and YAML within the input limits (venalab.limits).

    decode_json(data)       JSON text -> Python value, or InvalidInput naming the path
    decode_yaml(text)       YAML text -> Python value (safe types only), or InvalidInput
    check_tree(value)       the limits on an already-decoded value
    read_limited(path)      a file's bytes, refused when larger than the limit

Why not plain `json.loads` / `yaml.safe_load`: JSON nested ~1,000 levels deep raises
RecursionError and an integer of more than 4,300 digits raises ValueError (both server
errors or tracebacks); `yaml.safe_load` builds `!!binary` and `!!set` values, follows
recursive anchors into self-referencing lists, and a "billion laughs" document of a few
hundred bytes expands to gigabytes once serialised. Here YAML is composed with depth and
alias bounds, its node graph is checked (tags, cycles, size after alias expansion, integer
lengths) before anything is constructed, and only JSON's types (plus dates, which exam
documents use) are built. Every refusal is an `InvalidInput` whose problems carry the JSON
path; `TooLarge` (a subclass) marks a size refusal, which the API answers with 413.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from venalab.errors import InvalidInput, Problem, format_path
from venalab.limits import LIMITS, describe_bytes

_MAX_PROBLEMS = 20
Path_ = list[int | str]


class TooLarge(InvalidInput):
    """The input is larger than its size limit (HTTP 413)."""


class NotJson(InvalidInput):
    """The input is not JSON text at all (HTTP 400)."""


def too_large(size_limit: int, what: str, name: str = "the input") -> TooLarge:
    return TooLarge(
        [Problem("", f"{name} is larger than {describe_bytes(size_limit)} (input limit)")], what
    )


# ---------------------------------------------------------------------------------------
# Checking a decoded value


def _walk_problems(value: Any) -> Iterator[Problem]:
    """Problems of a decoded JSON-like value, depth first; iterative (no recursion)."""
    lim = LIMITS
    stack: list[tuple[Any, Path_]] = [(value, [])]
    while stack:
        node, path = stack.pop()
        if len(path) > lim.depth:
            yield Problem(format_path(path), f"nested deeper than {lim.depth} levels")
            continue
        if isinstance(node, str):
            if len(node) > lim.string_chars:
                yield Problem(
                    format_path(path), f"text longer than {lim.string_chars:,} characters"
                )
            elif "\x00" in node:
                yield Problem(format_path(path), "contains a NUL character (U+0000)")
        elif isinstance(node, bool) or node is None:
            continue
        elif isinstance(node, int):
            # bit_length, not str(): converting a huge integer to text is the slow part.
            if node.bit_length() > lim.integer_digits * 3.33:
                yield Problem(format_path(path), f"integer longer than {lim.integer_digits} digits")
        elif isinstance(node, float):
            if not math.isfinite(node):
                yield Problem(format_path(path), "not a finite number")
        elif isinstance(node, dict):
            if len(node) > lim.items:
                yield Problem(format_path(path), f"more than {lim.items:,} keys")
                continue
            for key, item in reversed(node.items()):
                key_text = str(key)
                if len(key_text) > 200 or "\x00" in key_text:
                    yield Problem(
                        format_path(path),
                        "a key is longer than 200 characters or contains a NUL character",
                    )
                    continue
                stack.append((item, [*path, key_text]))
        elif isinstance(node, list | tuple):
            if len(node) > lim.items:
                yield Problem(format_path(path), f"more than {lim.items:,} items")
                continue
            stack.extend((item, [*path, i]) for i, item in reversed(list(enumerate(node))))
        # other types (dates from YAML) carry no size of their own


def check_tree(value: Any, what: str = "document") -> None:
    """Raise InvalidInput when a decoded value exceeds a limit (depth, string length, NUL,
    integer digits, non-finite numbers, items per array or object)."""
    problems: list[Problem] = []
    for problem in _walk_problems(value):
        problems.append(problem)
        if len(problems) >= _MAX_PROBLEMS:
            break
    if problems:
        raise InvalidInput(problems, what)


# ---------------------------------------------------------------------------------------
# JSON

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},:]|-?\d[\d.eE+-]*')


def locate_breach(text: str) -> Problem | None:
    """Where raw JSON text breaks a limit that stops the decoder itself (nesting deeper
    than Python's recursion limit, integers over 4,300 digits): a token scan, run only
    after the decoder failed, so its cost is paid by the bad input alone."""
    path: Path_ = []
    containers: list[str] = []
    expect_key = False
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if tok in "[{":
            if len(containers) >= LIMITS.depth:
                return Problem(format_path(path), f"nested deeper than {LIMITS.depth} levels")
            containers.append(tok)
            if tok == "[":
                path.append(0)
            else:
                expect_key = True
                path.append("")
        elif tok in "]}":
            if containers:
                containers.pop()
                path.pop()
            expect_key = False
        elif tok == ",":
            if containers and containers[-1] == "[":
                path[-1] = int(path[-1]) + 1
            elif containers:
                expect_key = True
        elif tok == ":":
            expect_key = False
        elif tok.startswith('"'):
            if expect_key and containers and containers[-1] == "{":
                try:
                    path[-1] = json.loads(tok)
                except ValueError:
                    path[-1] = tok[1:-1]
        elif len(tok.lstrip("-").split(".")[0].split("e")[0].split("E")[0]) > (
            LIMITS.integer_digits
        ):
            where = [p for p in path if p != ""]
            return Problem(format_path(where), f"number longer than {LIMITS.integer_digits} digits")
    return None


def decode_json(
    data: bytes | str,
    what: str = "document",
    *,
    size_limit: int | None = None,
    name: str = "the input",
) -> Any:
    """Decode JSON text within the limits; raise InvalidInput (TooLarge for size) naming
    the path of the first problems found."""
    size_limit = LIMITS.body_bytes if size_limit is None else size_limit
    if len(data) > size_limit:
        raise too_large(size_limit, what, name)
    try:
        value = json.loads(data)
    except json.JSONDecodeError as err:
        raise NotJson([Problem("", f"not JSON: {err}")], what) from None
    except UnicodeDecodeError as err:
        raise NotJson([Problem("", f"not UTF-8 text: {err.reason}")], what) from None
    except (RecursionError, ValueError):
        # Too deep for the decoder, or an integer of more than 4,300 digits.
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        problem = locate_breach(text) or Problem("", "nested too deeply or a number too long")
        raise InvalidInput([problem], what) from None
    check_tree(value, what)
    return value


# ---------------------------------------------------------------------------------------
# YAML

_YAML = "tag:yaml.org,2002:"
#: JSON's types, dates (exam dates are written unquoted) and merge keys (`<<: *base`).
_SAFE_TAGS = frozenset(
    _YAML + t for t in ("str", "int", "float", "bool", "null", "timestamp", "seq", "map", "merge")
)


class _Refused(Exception):
    def __init__(self, path: Path_, message: str) -> None:
        super().__init__(message)
        self.problem = Problem(format_path(path), message)


def _label(index: Any) -> int | str:
    if isinstance(index, int):
        return index
    if isinstance(index, ScalarNode):
        return str(index.value)[:80]
    return "?"


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer counts aliases and stops at the depth limit before the
    (recursive) composer could exhaust the stack; it keeps the path for messages."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.path: Path_ = []
        self.aliases = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if index is not None or parent is None:
            step: int | str | None = None if parent is None else _label(index)
        else:
            step = "?"  # a mapping key
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > LIMITS.yaml_aliases:
                where = [*self.path, step] if step is not None else self.path
                raise _Refused(where, f"more than {LIMITS.yaml_aliases} aliases (*name)")
        if len(self.path) >= LIMITS.depth:
            raise _Refused(self.path, f"nested deeper than {LIMITS.depth} levels")
        if step is not None:
            self.path.append(step)
        try:
            node = super().compose_node(parent, index)
        finally:
            if step is not None:
                self.path.pop()
        return node


def _check_nodes(root: Node) -> None:
    """Tags, integer lengths, cycles, and size and depth after alias expansion, over the
    composed node graph (aliases make it a graph), before anything is constructed."""
    lim = LIMITS
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_: set[int] = set()
    # Iterative post-order: (node, path, children done?)
    stack: list[tuple[Node, Path_, bool]] = [(root, [], False)]
    while stack:
        node, path, done = stack.pop()
        key = id(node)
        if done:
            open_.discard(key)
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for _, k in kids)
            depth[key] = 1 + max((depth[id(k)] for _, k in kids), default=0)
            if size[key] > lim.yaml_nodes:
                raise _Refused(
                    path, f"more than {lim.yaml_nodes:,} values once aliases are expanded"
                )
            if depth[key] > lim.depth:
                raise _Refused(path, f"nested deeper than {lim.depth} levels")
            continue
        if key in size:
            continue
        if key in open_:
            raise _Refused(path, "an alias refers to a node that contains it (recursive)")
        if node.tag not in _SAFE_TAGS:
            raise _Refused(
                path,
                f"YAML tag {node.tag!r} is not accepted (plain values, lists and mappings only)",
            )
        if isinstance(node, ScalarNode):
            value = str(node.value)
            if node.tag == _YAML + "int" and len(value.lstrip("+-")) > lim.integer_digits:
                raise _Refused(path, f"integer longer than {lim.integer_digits} digits")
            size[key], depth[key] = 1, 0
            continue
        open_.add(key)
        stack.append((node, path, True))
        for step, child in reversed(_children(node)):
            stack.append((child, [*path, step], False))


def _children(node: Node) -> list[tuple[int | str, Node]]:
    if isinstance(node, SequenceNode):
        return list(enumerate(node.value))
    if isinstance(node, MappingNode):
        out: list[tuple[int | str, Node]] = []
        for k, v in node.value:
            out += [("?", k), (_label(k), v)]
        return out
    return []


def decode_yaml(text: str, what: str = "document", *, name: str = "the input") -> Any:
    """Decode one YAML document within the limits, building only JSON types and dates;
    InvalidInput names the path of what was refused."""
    if len(text) > LIMITS.body_bytes:
        raise too_large(LIMITS.body_bytes, what, name)
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node)
        value = loader.construct_document(node)
    except _Refused as err:
        raise InvalidInput([err.problem], what) from None
    except yaml.YAMLError as err:
        raise InvalidInput([Problem("", f"{name} is neither JSON nor YAML: {err}")], what) from None
    except (RecursionError, ValueError, TypeError) as err:  # a value the constructor refuses
        raise InvalidInput([Problem("", f"{name} cannot be read as YAML: {err}")], what) from None
    finally:
        loader.dispose()
    check_tree(value, what)
    return value


# ---------------------------------------------------------------------------------------
# Files and streams


def read_limited(path: Path, size_limit: int | None = None, what: str = "document") -> bytes:
    """A file's bytes; InvalidInput when it cannot be read, TooLarge when it is larger than
    `size_limit` (default: the body limit). The size is checked before reading."""
    size_limit = LIMITS.body_bytes if size_limit is None else size_limit
    try:
        with path.open("rb") as fh:
            return read_stream(fh, size_limit, what, name=path.name)
    except OSError as err:
        raise InvalidInput(
            [Problem("", f"cannot read {path.name}: {err.strerror or err}")], what
        ) from None


def read_stream(
    stream: BinaryIO, size_limit: int | None = None, what: str = "document", name: str = "<stdin>"
) -> bytes:
    """At most `size_limit` bytes of a stream (stdin); TooLarge when there are more."""
    size_limit = LIMITS.body_bytes if size_limit is None else size_limit
    data = stream.read(size_limit + 1)
    if len(data) > size_limit:
        raise too_large(size_limit, what, name)
    return data


def utf8(data: bytes, what: str = "document", name: str = "the input") -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InvalidInput(
            [Problem("", f"{name} is not UTF-8 text ({err.reason} at byte {err.start})")], what
        ) from None
