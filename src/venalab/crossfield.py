"""Model-level (cross-field) checks of a document that failed validation elsewhere.

pydantic runs a model's `mode="after"` validators only when every field of that model (and of
the models inside it) is valid, so a document with a bad segment never heard that its birth
date lies after its exam date. This module rebuilds the models leniently from the decoded
document, keeping every valid value and replacing each invalid one by a marker that refuses
to be used, then runs every after-validator: a check that can be decided is reported, a check
that would read an invalid value is skipped (its field already has its own problem).

Used by the exam parser and the data-file loader, so every problem is listed, always.
"""

from __future__ import annotations

import json
import types
from collections.abc import Sequence
from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from venalab.errors import Problem, format_path


class _Skip(BaseException):
    """Raised when a check touches an invalid value: the check cannot be decided.

    A BaseException so that no `except Exception` inside a validator turns it into a
    problem of its own."""


class _Invalid:
    """Stands for a value that failed validation; any use of it skips the check."""

    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> Any:
        raise _Skip

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse
    __hash__ = __bool__ = __len__ = __iter__ = __contains__ = _refuse
    __getattr__ = __getitem__ = __float__ = __int__ = __index__ = _refuse
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _refuse
    __truediv__ = __rtruediv__ = __format__ = __str__ = _refuse


INVALID = _Invalid()


def _strip(annotation: Any) -> tuple[Any, bool]:
    """(inner type, None allowed) of `X | None`, `Optional[X]` and `Annotated[X, ...]`."""
    nullable = False
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            nullable = nullable or len(args) < len(get_args(annotation))
            if len(args) != 1:
                return annotation, nullable
            annotation = args[0]
        else:
            return annotation, nullable


def _model_kind(annotation: Any) -> tuple[str, type[BaseModel] | None]:
    inner, _ = _strip(annotation)
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return "model", inner
    if get_origin(inner) is tuple:
        args = get_args(inner)
        if len(args) == 2 and args[1] is Ellipsis:
            item, _ = _strip(args[0])
            if isinstance(item, type) and issubclass(item, BaseModel):
                return "tuple", item
    return "leaf", None


@cache
def _adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    field: FieldInfo = model.model_fields[name]
    annotation: Any = field.annotation
    if field.metadata:
        annotation = Annotated[(annotation, *field.metadata)]
    strict = bool(model.model_config.get("strict", False))
    return TypeAdapter(annotation, config=ConfigDict(strict=strict, allow_inf_nan=False))


def _leaf(model: type[BaseModel], name: str, value: object) -> object:
    try:
        return _adapter(model, name).validate_json(json.dumps(value))
    except (ValidationError, TypeError, ValueError):
        return INVALID


def _build(
    model: type[BaseModel], raw: object, loc: tuple[int | str, ...], out: list[Problem]
) -> object:
    """A lenient instance of `model` from `raw`; runs the checks of every model inside it."""
    if not isinstance(raw, dict):
        return INVALID
    values: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = field.alias or name
        if key not in raw:
            if field.is_required():
                values[name] = INVALID
            continue
        value = raw[key]
        kind, sub = _model_kind(field.annotation)
        if value is None:
            values[name] = None if _strip(field.annotation)[1] else INVALID
        elif kind == "model" and sub is not None:
            values[name] = _build(sub, value, (*loc, key), out)
        elif kind == "tuple" and sub is not None and isinstance(value, list):
            values[name] = tuple(_build(sub, v, (*loc, key, i), out) for i, v in enumerate(value))
        else:
            values[name] = _leaf(model, name, value)
    try:  # model_post_init may read the values, as a check would
        instance = model.model_construct(**values)
    except (_Skip, Exception):
        return INVALID
    for decorator in model.__pydantic_decorators__.model_validators.values():
        if decorator.info.mode != "after":
            continue
        try:
            decorator.func(instance)
        except _Skip:
            continue
        except (ValueError, AssertionError) as err:
            out.append(Problem(format_path(loc), str(err)))
    return instance


def cross_field_problems(model: type[BaseModel], raw: object) -> list[Problem]:
    """Problems of the model-level validators of `model` and every model inside it that can be
    decided from the valid parts of `raw` (a decoded JSON document)."""
    out: list[Problem] = []
    try:
        _build(model, raw, (), out)
    except RecursionError:  # a pathologically nested document: its field errors suffice
        return []
    return out


def merge_problems(first: Sequence[Problem], more: Sequence[Problem]) -> list[Problem]:
    """`first` followed by the problems of `more` it does not already hold."""
    seen = {(p.path, p.message) for p in first}
    merged = list(first)
    for p in more:
        if (p.path, p.message) not in seen:
            seen.add((p.path, p.message))
            merged.append(p)
    return merged
