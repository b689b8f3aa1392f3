"""A model's SQL made fit to be wrapped in a subquery (``SELECT * FROM (<sql>) AS m``).

SQL that runs as a statement in the warehouse may end in ways a subquery cannot: a trailing
``;`` (often followed by a ``-- comment``), or a ``--`` comment on its last line, which
would swallow the closing parenthesis. Only the tail is touched; comments inside the query
stay as they are.
"""

from __future__ import annotations

import re

#: a last line holding only a ``--`` comment
_COMMENT_LINE = re.compile(r"\n[ \t]*--[^\n]*\Z")
#: ``; -- comment`` ending the last line; no quote after ``--``, so never inside a string
_SEMICOLON_COMMENT = re.compile(r";[ \t]*--[^\n'\"]*\Z")


def subquery_sql(sql: str) -> str:
    """``sql`` without trailing semicolons and comment-only lines, ending in a newline (so
    a ``--`` comment left on its last line ends before the wrapper's parenthesis)."""
    text = sql.strip()
    while True:
        trimmed = _SEMICOLON_COMMENT.sub("", _COMMENT_LINE.sub("", text)).rstrip().rstrip(";")
        if trimmed == text:
            return text + "\n"
        text = trimmed.rstrip()
