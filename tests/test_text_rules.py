"""Identifier checks (venalab.text_rules): the one-step path for plain ASCII ids gives exactly
what the character-by-character check gives, values and messages alike (issue 21)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from venalab.text_rules import _check_each_character, check_identifier

# Plain ids, spaces in every position, ASCII controls, and a few non-ASCII look-alikes.
_CHARS = st.sampled_from(
    [
        *"aZ09-_./ ",
        "  ",
        "\t",
        "\n",
        "\x00",
        "\x7f",
        "\u00a0",
        "\u200b",
        "\u00e9",
        "e\u0301",
        "\u202e",
    ]
)


def _outcome(check: object, value: str) -> tuple[str, str]:
    assert callable(check)
    try:
        return "ok", check(value)
    except ValueError as err:
        return "refused", str(err)


@settings(max_examples=300, deadline=None)
@given(st.lists(_CHARS, min_size=1, max_size=12).map("".join))
def test_fast_path_agrees_with_the_full_check(value: str) -> None:
    assert _outcome(check_identifier, value) == _outcome(_check_each_character, value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("B-000123", "B-000123"), ("A B", "A B"), ("e\u0301", "\u00e9")],
)
def test_accepted_ids(value: str, expected: str) -> None:
    assert check_identifier(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [(" A", "starts or ends with a space"), ("A  B", "two spaces in a row"),
     ("A\tB", "control character (U+0009)"), ("A\u00a0B", "whitespace other than a plain space")],
)  # fmt: skip
def test_refused_ids_say_why(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        check_identifier(value)
