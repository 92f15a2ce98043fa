"""``--where``: a small, safe filter language over catalog columns.

Grammar (case-insensitive keywords)::

    expr    := term (OR term)*
    term    := factor (AND factor)*
    factor  := NOT factor | '(' expr ')' | compare
    compare := column op literal | column [NOT] IN '(' literal (',' literal)* ')'
             | column IS [NOT] NULL | column [NOT] LIKE string (case-insensitive)
    op      := = | == | != | <> | < | <= | > | >=

The text is parsed here and compiled to a SQLAlchemy expression with bound parameters: no
user text ever reaches SQL, and unknown columns or stray syntax are one-line errors.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import and_, not_, or_

from indexer.catalog import FILTER_COLUMNS

# Numbers beyond a 64-bit integer mean nothing here and overflow the databases' parameters.
MAX_NUMBER = 2**63 - 1


class FilterError(ValueError):
    """A --where expression that cannot be used, with the reason."""


_TOKEN = re.compile(
    r"\s*(?:(?P<number>-?\d+(?:\.\d+)?)|(?P<string>'(?:[^']|'')*')"
    r"|(?P<op><=|>=|!=|<>|==|=|<|>)|(?P<punct>[(),])|(?P<word>[A-Za-z_][A-Za-z_0-9]*))"
)
_KEYWORDS = {"and", "or", "not", "in", "is", "null", "like"}


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise FilterError(f"--where: unexpected {text[pos:].strip()[:20]!r} at character {pos}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "word" and value.lower() in _KEYWORDS:
            kind, value = "keyword", value.lower()
        tokens.append((kind, value))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

    def take(self, kind: str, value: str | None = None) -> str:
        tok_kind, tok_value = self.peek()
        if tok_kind != kind or (value is not None and tok_value != value):
            want = value or kind
            got = tok_value or "end of expression"
            raise FilterError(f"--where: expected {want} but found {got!r}")
        self.pos += 1
        return tok_value

    def accept(self, kind: str, value: str) -> bool:
        if self.peek() == (kind, value):
            self.pos += 1
            return True
        return False

    def expr(self) -> Any:
        parts = [self.term()]
        while self.accept("keyword", "or"):
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else or_(*parts)

    def term(self) -> Any:
        parts = [self.factor()]
        while self.accept("keyword", "and"):
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else and_(*parts)

    def factor(self) -> Any:
        if self.accept("keyword", "not"):
            return not_(self.factor())
        if self.accept("punct", "("):
            inner = self.expr()
            self.take("punct", ")")
            return inner
        return self.compare()

    def column(self) -> Any:
        kind, name = self.peek()
        if kind != "word":
            raise FilterError(f"--where: expected a column name but found {name or 'nothing'!r}")
        self.pos += 1
        if name not in FILTER_COLUMNS:
            known = ", ".join(sorted(FILTER_COLUMNS))
            raise FilterError(f"--where: unknown column {name!r} (known: {known})")
        return FILTER_COLUMNS[name]

    def literal(self) -> Any:
        kind, value = self.peek()
        if kind == "number":
            self.pos += 1
            number = float(value) if "." in value else int(value)
            if not -MAX_NUMBER <= number <= MAX_NUMBER or number != number:
                raise FilterError(f"--where: number {value} is out of range")
            return number
        if kind == "string":
            self.pos += 1
            text = value[1:-1].replace("''", "'")
            if "\x00" in text:
                raise FilterError("--where: strings cannot contain NUL characters")
            return text
        raise FilterError(f"--where: expected a number or 'quoted string' but found {value!r}")

    def compare(self) -> Any:
        col = self.column()
        if self.accept("keyword", "is"):
            negate = self.accept("keyword", "not")
            self.take("keyword", "null")
            return col.is_not(None) if negate else col.is_(None)
        negate = self.accept("keyword", "not")
        if self.accept("keyword", "in"):
            self.take("punct", "(")
            values = [self.literal()]
            while self.accept("punct", ","):
                values.append(self.literal())
            self.take("punct", ")")
            clause = col.in_(values)
        elif self.accept("keyword", "like"):
            clause = col.ilike(self.literal())  # case-insensitive on every backend
        elif negate:
            raise FilterError("--where: NOT here must be followed by IN or LIKE")
        else:
            op = self.take("op")
            value = self.literal()
            clause = {
                "=": col == value,
                "==": col == value,
                "!=": col != value,
                "<>": col != value,
                "<": col < value,
                "<=": col <= value,
                ">": col > value,
                ">=": col >= value,
            }[op]
        return not_(clause) if negate else clause


def compile_where(text: str | None) -> Any:
    """Parse a --where expression into a SQLAlchemy clause (None for no filter)."""
    if text is None or not text.strip():
        return None
    parser = _Parser(_tokenize(text))
    clause = parser.expr()
    if parser.pos != len(parser.tokens):
        raise FilterError(f"--where: unexpected {parser.peek()[1]!r} after a complete expression")
    return clause
