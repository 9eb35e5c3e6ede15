"""Request and response building blocks every service's ``schemas.py`` starts from.

Input that the database cannot store, or that only looks like other input, never reaches it:

* **Every string** of a request body (:class:`InputModel`, at any depth of lists and dicts) and
  every query parameter typed with the aliases below is refused with a 422 naming the field when
  it holds a control character (C0 and DEL; ``\\n``, ``\\r`` and ``\\t`` only in multi-line text,
  :data:`LongText` and friends) or a lone UTF-16 surrogate (which JSON can escape as ``\\ud800``
  but UTF-8, and so PostgreSQL, cannot store). PostgreSQL refuses NUL in ``text`` and in JSONB
  string escapes: before this, each such request was a 500.
* **Text is normalised to NFC**, so ``"é"`` typed as ``e`` + combining accent and as one code
  point is the same title, the same search and the same unique key.
* **Tags and codes** (:data:`Tag`, :data:`Code`) are NFKC-normalised and case-folded: ``e-akte``
  in fullwidth letters, ``E-Akte`` and ``e-akte`` are one tag (``ß`` folds to ``ss``). They are
  Latin script only (letters of the Latin blocks, digits, space, ``-``, ``_``): a Cyrillic ``e``
  (U+0435) that looks like the Latin one is refused, whether alone or mixed with Latin letters,
  instead of creating a second ``e-akte`` that nobody can tell from the first. The city's tags
  are German.
* **Dates** are bounded (:class:`YearWindow`): aware, and within years that make sense for
  the field (a meeting is not in year 7718), which also keeps ``0001-01-01T00:00:00+14:00``
  (not representable in UTC) away from the database.

The OpenAPI document says the same: string types carry a ``pattern`` without control characters
(and with one non-space character where blank text is refused), so a client generated from it
and a fuzzer reading it know what is accepted.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

# -- characters --------------------------------------------------------------------------------

_CONTROL = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f"
"""C0 controls except tab, line feed, carriage return; and DEL (regex class body)."""
_CONTROL_ONE_LINE = "\\x00-\\x1f\\x7f"
"""Every C0 control and DEL: one-line text takes no tab or line break either."""

MULTI_LINE_PATTERN = f"^[^{_CONTROL}]*[^{_CONTROL}\\s][^{_CONTROL}]*$"
"""Non-blank, no control characters but ``\\t \\n \\r`` (JSON Schema and Python ``re`` alike)."""
ONE_LINE_PATTERN = f"^[^{_CONTROL_ONE_LINE}]*[^{_CONTROL_ONE_LINE}\\s][^{_CONTROL_ONE_LINE}]*$"
"""Non-blank, no control characters at all."""

_BAD_MULTI_LINE = re.compile(f"[{_CONTROL}\\ud800-\\udfff]")
_BAD_ONE_LINE = re.compile(f"[{_CONTROL_ONE_LINE}\\ud800-\\udfff]")


def _refuse_unstorable(value: str, *, multi_line: bool) -> str:
    found = (_BAD_MULTI_LINE if multi_line else _BAD_ONE_LINE).search(value)
    if found is None:
        return value
    char = found.group()
    if "\ud800" <= char <= "\udfff":
        raise PydanticCustomError(
            "string_surrogate", "A lone UTF-16 surrogate is not a character; send valid Unicode."
        )
    raise PydanticCustomError(
        "string_control_character",
        "Control characters (here U+{code}) are not allowed in this field.",
        {"code": f"{ord(char):04X}"},
    )


def clean_text(value: str, *, multi_line: bool = False) -> str:
    """``value`` in NFC; :class:`PydanticCustomError` for control characters and surrogates."""
    _refuse_unstorable(value, multi_line=multi_line)
    return unicodedata.normalize("NFC", value)


def _clean_tree(value: Any) -> Any:
    """NFC for every string in a JSON value; refuse what cannot be stored.

    Line breaks and tabs pass here (a model's multi-line fields need them); the field's own type
    refuses them where a single line is expected.
    """
    if isinstance(value, str):
        return clean_text(value, multi_line=True)
    if isinstance(value, list):
        return [_clean_tree(item) for item in value]
    if isinstance(value, dict):
        return {_clean_tree(key): _clean_tree(item) for key, item in value.items()}
    return value


# -- models ------------------------------------------------------------------------------------


class InputModel(BaseModel):
    """A request body: unknown fields are an error, surrounding whitespace is dropped, and every
    string in it is checked and normalised (see the module docstring) before its own type runs."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _storable_strings(cls, value: Any) -> Any:
        return _clean_tree(value)


class PatchModel(InputModel):
    """A partial update: only the fields sent change.

    ``{}`` is refused (nothing to do), and so is ``null`` for every field not named in
    ``nullable_fields`` (those may be cleared with ``null``). The JSON schema says the same:
    ``minProperties: 1`` and no ``null`` branch for the other fields.
    """

    nullable_fields: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _changes_something(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("Give at least one field to change.")
        nulls = sorted(
            name
            for name in self.model_fields_set - self.nullable_fields
            if getattr(self, name) is None
        )
        if nulls:
            raise ValueError(f"These fields cannot be null: {', '.join(nulls)}.")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields sent, by name (sorted)."""
        return {name: getattr(self, name) for name in sorted(self.model_fields_set)}

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        target = handler.resolve_ref_schema(json_schema)
        target["minProperties"] = 1
        for name, prop in target.get("properties", {}).items():
            if name in cls.nullable_fields or "anyOf" not in prop:
                continue
            branches = [b for b in prop["anyOf"] if b.get("type") != "null"]
            del prop["anyOf"]
            if len(branches) == 1:
                prop.update(branches[0])
            else:
                prop["anyOf"] = branches
            if prop.get("default", "") is None:
                del prop["default"]
        return json_schema


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# -- text types --------------------------------------------------------------------------------


def _clean_if_str(multi_line: bool) -> Callable[[Any], Any]:
    def validator(value: Any) -> Any:
        return clean_text(value, multi_line=multi_line) if isinstance(value, str) else value

    return validator


@dataclass(frozen=True, slots=True)
class Text:
    """``Annotated[str, Text(...)]``: non-blank text, stripped, length counted after stripping.

    One line by default; ``multi_line`` allows ``\\n``, ``\\r`` and ``\\t``. The OpenAPI schema
    gets ``minLength``, ``maxLength`` and a ``pattern`` that refuses blank text and control
    characters, so it states what the validation does.
    """

    min_length: int = 1
    max_length: int = 200
    multi_line: bool = False

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(
            _clean_if_str(self.multi_line),
            core_schema.str_schema(
                strip_whitespace=True,
                min_length=self.min_length,
                max_length=self.max_length,
                pattern=MULTI_LINE_PATTERN if self.multi_line else ONE_LINE_PATTERN,
            ),
        )


Title = Annotated[str, Text(3, 200)]
ShortText = Annotated[str, Text(1, 200)]
LongText = Annotated[str, Text(1, 10_000, multi_line=True)]
VeryLongText = Annotated[str, Text(1, 20_000, multi_line=True)]
Note = Annotated[str, Text(1, 5_000, multi_line=True)]
SubjectId = Annotated[str, Text(1, 255)]
"""The ``sub`` of a token (a person's id at the identity provider)."""


# -- tags and codes ----------------------------------------------------------------------------

_CANDIDATES = [
    (0x30, 0x39),  # digits
    (0x41, 0x5A),  # Basic Latin letters
    (0x61, 0x7A),
    (0xC0, 0xD6),  # Latin-1 letters (not the signs U+00D7, U+00F7)
    (0xD8, 0xF6),
    (0xF8, 0x24F),  # Latin Extended-A and -B
    (0x1E00, 0x1EFF),  # Latin Extended Additional
    (0xFF10, 0xFF19),  # fullwidth digits and Latin letters (NFKC folds them to ASCII)
    (0xFF21, 0xFF3A),
    (0xFF41, 0xFF5A),
]


def _fold_char(char: str) -> str:
    return unicodedata.normalize("NFC", unicodedata.normalize("NFKC", char).casefold())


def _closed_alphabet() -> list[str]:
    """The candidate letters whose folded form is made of candidate letters again.

    Computed, not typed in: a letter such as U+0149 (folds to an apostrophe and ``n``) would
    otherwise pass the pattern and then fail after folding, i.e. the OpenAPI would promise
    more than the service accepts.
    """
    alphabet = {chr(c) for low, high in _CANDIDATES for c in range(low, high + 1)}
    while True:
        closed = {c for c in alphabet if all(f in alphabet for f in _fold_char(c))}
        if closed == alphabet:
            return sorted(alphabet)
        alphabet = closed


def _regex_class(chars: list[str]) -> str:
    """``chars`` as a regex class body of ``\\uXXXX`` ranges (JSON Schema and Python alike)."""
    ranges: list[tuple[int, int]] = []
    for code in sorted(ord(c) for c in chars):
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return "".join(
        f"\\u{low:04x}" if low == high else f"\\u{low:04x}-\\u{high:04x}" for low, high in ranges
    )


_ALPHABET = _closed_alphabet()
_TAG_CHARS = _regex_class(_ALPHABET)
TAG_PATTERN = f"^[{_TAG_CHARS}][{_TAG_CHARS} _-]*$"
"""What a tag may look like when sent (after stripping, before folding): Latin letters and
digits whose folded form stays Latin, then also space, ``-``, ``_``."""
_CODE_CHARS = _regex_class([c for c in _ALPHABET if all(f.isascii() for f in _fold_char(c))])
CODE_PATTERN = f"^[{_CODE_CHARS}][{_CODE_CHARS}_-]*$"
"""A code: characters that fold to ASCII letters and digits, then also ``-``, ``_``."""
_FOLDED = re.compile(TAG_PATTERN)


def fold_identifier(value: str) -> str:
    """NFKC and case-folded; 422 for anything outside the Latin script (lookalikes)."""
    folded = unicodedata.normalize("NFKC", value).casefold().strip()
    # NFC again: casefold can decompose (U+0130 becomes i + combining dot above).
    folded = unicodedata.normalize("NFC", folded)
    if not _FOLDED.match(folded):
        raise PydanticCustomError(
            "identifier_script",
            "Use Latin letters, digits, space, '-' and '_' only (no lookalikes from other "
            "scripts).",
        )
    return folded


def _check_identifier(value: Any) -> Any:
    """Before the length and pattern checks: name a lookalike as what it is."""
    if isinstance(value, str):
        value = clean_text(value, multi_line=False)
        if value.strip():
            fold_identifier(value)
    return value


@dataclass(frozen=True, slots=True)
class Identifier:
    """``Annotated[str, Identifier(...)]``: a tag or code, NFKC-normalised and case-folded."""

    min_length: int
    max_length: int
    pattern: str = TAG_PATTERN

    def _fold(self, value: str) -> str:
        folded = fold_identifier(value)
        # Folding can lengthen (U+00DF becomes "ss"): the column holds max_length characters.
        if len(folded) > self.max_length:
            raise PydanticCustomError(
                "string_too_long",
                "Folded, this is longer than {max_length} characters.",
                {"max_length": self.max_length},
            )
        return folded

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(
            _check_identifier,
            core_schema.no_info_after_validator_function(
                self._fold,
                core_schema.str_schema(
                    strip_whitespace=True,
                    min_length=self.min_length,
                    max_length=self.max_length,
                    pattern=self.pattern,
                ),
            ),
        )


Tag = Annotated[str, Identifier(2, 40)]
"""Latin letters (with umlauts and accents), digits, space, hyphen, underscore; folded."""
Code = Annotated[str, Identifier(2, 40, CODE_PATTERN)]
"""A short machine code (``kaemmerei``, ``amt-32``): ASCII letters, digits, ``-``, ``_``; folded."""


# -- dates -------------------------------------------------------------------------------------


STARTED_IN_YEAR = datetime.now(UTC).year
"""The calendar year the process started in: date windows count from it."""


@dataclass(frozen=True, slots=True)
class YearWindow:
    """``Annotated[AwareDatetime, YearWindow(...)]``: a date-time whose year, as written, lies
    from ``years_back`` before to ``years_ahead`` after the year the service started in.

    Whole years, counted from the start year, so the OpenAPI document can state the rule
    exactly, as a ``pattern`` on the year next to ``format: date-time`` (a client, or a fuzzer,
    generating from it sends what is accepted), and both stay the same while the process runs;
    a deployment in a new year moves them. Keeping the years near the present also keeps
    values like ``0001-01-01T00:00:00+14:00`` (before year 1 in UTC) away from the database.
    """

    years_back: int
    years_ahead: int
    what: str = "The date"

    @property
    def years(self) -> range:
        return range(STARTED_IN_YEAR - self.years_back, STARTED_IN_YEAR + self.years_ahead + 1)

    def check(self, value: datetime) -> datetime:
        if value.year not in self.years:
            raise PydanticCustomError(
                "datetime_out_of_range",
                "{what} must lie in the years {first} to {last}.",
                {"what": self.what, "first": self.years[0], "last": self.years[-1]},
            )
        return value.astimezone(UTC)

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        first, last = self.years[0], self.years[-1]
        json_schema["pattern"] = "^(?:" + "|".join(str(year) for year in self.years) + ")-"
        json_schema["description"] = (
            f"{self.what}: RFC 3339 with offset, in the years {first} to {last} (as written)."
        )
        return json_schema


# -- rules across fields ----------------------------------------------------------------------


def reason_only_when(field: str, value: str, reason: str = "reason") -> dict[str, Any]:
    """JSON schema: ``reason`` is required when ``field == value`` and absent or null otherwise
    (e.g. a rejection needs a reason, nothing else takes one)."""
    return {
        "oneOf": [
            {
                "required": [field, reason],
                "properties": {field: {"const": value}, reason: {"type": "string"}},
            },
            {
                "properties": {field: {"not": {"const": value}}, reason: {"type": "null"}},
            },
        ]
    }


def check_reason_only_when(
    field_value: object, value: str, reason_value: object, *, field: str, reason: str = "reason"
) -> None:
    """The model-side twin of :func:`reason_only_when` (a ``ValueError`` for pydantic)."""
    if field_value == value and reason_value is None:
        raise ValueError(f"{field} {value} needs a {reason}.")
    if field_value != value and reason_value is not None:
        raise ValueError(f"A {reason} is given only when {field} is {value}.")


def one_of_required(*fields: str) -> dict[str, Any]:
    """JSON schema: at least one of ``fields`` is present and not null."""
    return {
        "anyOf": [
            {"required": [name], "properties": {name: {"not": {"type": "null"}}}} for name in fields
        ]
    }


# -- people ------------------------------------------------------------------------------------


class PersonOut(BaseModel):
    """A member of staff as the token named them (subject id and display name)."""

    id: str
    name: str | None
