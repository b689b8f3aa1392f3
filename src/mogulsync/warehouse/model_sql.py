"""A model's SQL made fit to be wrapped in a subquery (``SELECT * FROM (<sql>) AS m``).

SQL that runs as a statement in the warehouse may end in ways a subquery cannot: a trailing
``;`` (often followed by a ``-- comment``), or a ``--`` comment on its last line, which
would swallow the closing parenthesis. Only the tail is touched; comments inside the query
stay as they are.

Where the tail begins is found by sqlglot's tokenizer for the warehouse's dialect: a ``;``
or ``--`` inside a string, a dollar-quoted string or a block comment is not the SQL's end
(trimming there broke models that ran). SQL it cannot tokenize is trimmed by patterns.
"""

from __future__ import annotations

import functools
import re

#: a last line holding only a ``--`` comment
_COMMENT_LINE = re.compile(r"\n[ \t]*--[^\n]*\Z")
#: ``; -- comment`` ending the last line; no quote after ``--``, so never inside a string
_SEMICOLON_COMMENT = re.compile(r";[ \t]*--[^\n'\"]*\Z")
#: SQLAlchemy dialect names that sqlglot spells otherwise
_SQLGLOT_NAMES = {"postgresql": "postgres", "mssql": "tsql"}


@functools.lru_cache(maxsize=32)  # a run wraps its model in several queries: tokenized once
def subquery_sql(sql: str, dialect: str | None = None) -> str:
    """``sql`` without trailing semicolons and comments, ending in a newline (so a ``--``
    comment left on its last line ends before the wrapper's parenthesis). ``dialect``: the
    SQLAlchemy dialect's name (how strings and comments are written differs)."""
    text = sql.strip()
    if ";" not in text and "--" not in text.rpartition("\n")[2]:
        return text + "\n"  # nothing to trim (most models): no tokenizer to import
    end = _code_end(text, dialect)
    return (_trimmed_by_patterns(text) if end is None else text[:end]) + "\n"


def _code_end(text: str, dialect: str | None) -> int | None:
    """Where the last token that is not a ``;`` ends; None when ``text`` does not tokenize."""
    # imported here: only compiling or reading a model needs it
    from sqlglot import TokenType
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.errors import SqlglotError

    try:
        rules = Dialect.get_or_raise(_SQLGLOT_NAMES.get(dialect or "", dialect))
    except ValueError:  # a dialect sqlglot does not know: its generic rules
        rules = Dialect()
    try:
        tokens = rules.tokenize(text)
    except SqlglotError:
        return None
    while tokens and tokens[-1].token_type is TokenType.SEMICOLON:
        tokens.pop()
    return tokens[-1].end + 1 if tokens else None


def _trimmed_by_patterns(text: str) -> str:
    """The tail trimmed by patterns (SQL the tokenizer cannot read)."""
    while True:
        trimmed = _SEMICOLON_COMMENT.sub("", _COMMENT_LINE.sub("", text)).rstrip().rstrip(";")
        if trimmed == text:
            return text
        text = trimmed.rstrip()
