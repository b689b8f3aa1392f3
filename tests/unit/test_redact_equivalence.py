"""The linear URL user-info pattern masks exactly what the earlier (quadratic) one did.

The earlier pattern is kept here as the oracle. Texts are drawn from the characters that
decide a match (scheme characters, ``:``, ``/``, ``@``, whitespace, query separators, the
non-ASCII letters that IGNORECASE folds onto ``[a-z]``) and from URL-like pieces. Checked
once with 200,000 examples when the pattern changed; the suite keeps a few hundred.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from mogulsync._redact import MASK, Redactor, _mask_query, redact_url

_EARLIER = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@", re.IGNORECASE)
_PIECES = [
    *"aZ9+.-:/@ \n?&=_;#",
    "\u017f",  # long s, matched by [a-z] under IGNORECASE
    "\u212a",  # Kelvin sign, likewise
    "//",
    "://",
    "x://",
    "postgres://",
    "u:p@",
    "password=",
    "%40",
]
_TEXTS = st.lists(st.sampled_from(_PIECES), max_size=40).map("".join) | st.text(
    alphabet="aZ9+.-:/@ ?&=_\u017f\t", max_size=60
)


def _earlier(text: str) -> str:
    return _mask_query(_EARLIER.sub(rf"\g<scheme>{MASK}@", text))


@settings(max_examples=400, deadline=None)
@given(_TEXTS)
def test_redact_url_masks_what_the_earlier_pattern_masked(text: str) -> None:
    assert redact_url(text) == _earlier(text)


@settings(max_examples=100, deadline=None)
@given(_TEXTS)
def test_redactor_text_masks_what_the_earlier_pattern_masked(text: str) -> None:
    # Basic auth and known secrets are masked before the URL patterns, as in Redactor.text
    redacted = Redactor(["s3cr3t-value"]).text(f"Basic dXNlcjpwdw== {text} s3cr3t-value")
    assert redacted == _earlier(f"Basic {MASK} {text} {MASK}")
