"""Trusted construction of the engine's own frozen result models (issue 21).

`SegmentResult(...)` validates every field; the engine builds about 150 such objects per exam
from values it has already validated (the parsed exam, the criteria and data files, its own
decisions), and validation was a quarter of the full result's cost. `trusted(SegmentResult)`
returns a constructor with the same keyword signature (mypy checks call sites as for the
class) that fills the instance as validation would, without checking: field values in field
order, defaults for fields not given, `model_fields_set` = the fields given. The instance is
an ordinary pydantic model (equality, `model_dump`, `model_copy`, round trip through
`model_validate_json`).

Only for values of the declared types, as validation would leave them: tuples for tuple
fields, floats for float fields (validation turns an int 500 into 500.0, and the JSON shows
it). Input from outside (exam documents, options, API bodies) is always validated.
`checking()` makes every trusted constructor validate too and compare (tests/test_trusted.py
runs the engine that way), so a call site that passes what validation would change fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from pydantic import BaseModel

P = ParamSpec("P")
M = TypeVar("M", bound=BaseModel)

_CHECK = [False]
"""Set by `checking()`: every trusted construction is validated and compared too."""


class TrustedMismatch(AssertionError):
    """A trusted construction differs from what validation makes of the same values."""


def trusted(cls: Callable[P, M]) -> Callable[P, M]:
    """A constructor of `cls` (a pydantic model without validators, post-init or aliases)
    that skips validation; see the module docstring for when it may be used."""
    model = _model_class(cls)
    fields = model.model_fields
    required = [n for n, f in fields.items() if f.is_required()]
    optional = [n for n, f in fields.items() if not f.is_required()]
    env: dict[str, Any] = {
        "_new": object.__new__,
        "_set": object.__setattr__,
        "_cls": model,
        "_GIVEN": object(),  # sentinel: the field was not given
        "_CHECK": _CHECK,
        "_checked": _checked,
        "_ALL": set(fields),
    }
    lines: list[str] = []
    for name in optional:
        env[f"_default_{name}"] = fields[name].default
        lines += [
            f"    if {name} is _GIVEN:",
            f"        {name} = _default_{name}",
            f"        given.discard({name!r})",
        ]
    params = [*required, *(f"{n}=_GIVEN" for n in optional)]
    values = ", ".join(f"{n!r}: {n}" for n in fields)
    source = "\n".join(
        [
            f"def make(*, {', '.join(params)}):" if params else "def make():",
            "    given = _ALL.copy()",  # call sites mostly give every field
            *lines,
            "    obj = _new(_cls)",
            f"    _set(obj, '__dict__', {{{values}}})",
            "    _set(obj, '__pydantic_fields_set__', given)",
            "    _set(obj, '__pydantic_extra__', None)",
            "    _set(obj, '__pydantic_private__', None)",
            "    if _CHECK[0]:",
            "        _checked(obj)",
            "    return obj",
        ]
    )
    exec(source, env)  # generated from the model's own field names, as dataclasses do
    make: Callable[P, M] = env["make"]
    make.__qualname__ = make.__name__ = f"trusted_{model.__name__}"
    make.__doc__ = f"{model.__name__} without validation (venalab.trusted)."
    return make


def _model_class(cls: Callable[..., BaseModel]) -> type[BaseModel]:
    if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
        raise TypeError(f"trusted(): {cls!r} is not a pydantic model class")
    decorators = cls.__pydantic_decorators__
    hooks = (
        decorators.validators,
        decorators.field_validators,
        decorators.root_validators,
        decorators.model_validators,
    )
    aliased = [n for n, f in cls.model_fields.items() if f.alias or f.validation_alias]
    immutable = (str, int, float, bool, tuple, frozenset, type(None))
    mutable = [
        n
        for n, f in cls.model_fields.items()
        if f.default_factory is not None
        or (not f.is_required() and not isinstance(f.default, immutable))
    ]
    if (
        any(hooks)
        or cls.model_post_init is not BaseModel.model_post_init
        or aliased
        or mutable
        or cls.model_config.get("extra") == "allow"
    ):
        raise TypeError(
            f"trusted(): {cls.__name__} has validators, post-init, aliases, mutable "
            "defaults or extra fields; construct it with validation"
        )
    return cls


def _checked(obj: BaseModel) -> None:
    """Validate the trusted object's values as the class would and compare (`checking`)."""
    cls = type(obj)
    given = obj.__pydantic_fields_set__
    validated = cls(**{n: v for n, v in obj.__dict__.items() if n in given})
    problems = []
    if validated.__dict__ != obj.__dict__:
        problems.append("values")
    elif [type(v) for v in validated.__dict__.values()] != [type(v) for v in obj.__dict__.values()]:
        problems.append("value types")
    if list(validated.__dict__) != list(obj.__dict__):
        problems.append("field order")
    if validated.model_fields_set != given:
        problems.append("fields set")
    if validated.model_dump_json() != obj.model_dump_json():
        problems.append("JSON")
    if problems:
        raise TrustedMismatch(
            f"trusted {cls.__name__} differs from the validated one ({', '.join(problems)}): "
            f"{obj.model_dump_json()} vs {validated.model_dump_json()}"
        )


@contextmanager
def checking() -> Iterator[None]:
    """Within: every trusted construction is also validated and compared (tests)."""
    _CHECK[0] = True
    try:
        yield
    finally:
        _CHECK[0] = False
