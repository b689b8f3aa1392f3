"""Secrets never survive the redaction gate."""

from __future__ import annotations

import base64

from mogulsync import _redact
from mogulsync._redact import MASK, Redactor, display_url, redact_url


def test_known_secret_masked_in_text_and_basic_auth() -> None:
    """A registered key is masked raw and inside Basic-auth tokens."""
    redactor = Redactor(["sk_live_secret_key"])
    token = base64.b64encode(b"sk_live_secret_key:").decode()
    text = redactor.text(f"key=sk_live_secret_key header=Basic {token} raw={token}")
    assert "sk_live_secret_key" not in text
    assert token not in text
    assert text.count(MASK) == 3


def test_secret_looking_keys_masked_in_data() -> None:
    """Keys that name secrets are masked whatever their value; other data is kept."""
    redactor = Redactor()
    data = {"api_key": "abc", "nested": [{"write_key": "w", "name": "Acme"}], "n": 3}
    assert redactor.data(data) == {
        "api_key": MASK,
        "nested": [{"write_key": MASK, "name": "Acme"}],
        "n": 3,
    }


def test_short_values_are_not_registered() -> None:
    """Very short strings are not masked (they would shred unrelated text)."""
    redactor = Redactor(["ab"])
    assert redactor.text("abc") == "abc"


def test_url_passwords_masked() -> None:
    """A DSN's user info never reaches a log line."""
    assert redact_url("postgresql://user:pw@db:5432/x") == f"postgresql://{MASK}@db:5432/x"
    assert redact_url("duckdb:///warehouse.duckdb") == "duckdb:///warehouse.duckdb"


def test_credential_query_parameters_masked_in_urls() -> None:
    """``?password=``, ``token=``, ``private_key=`` ... are masked like the user info's password."""
    url = (
        "snowflake://acct/db?user=bob&password=hunter2&access_token=tok123"
        "&private_key=pkABC&role=r&private_key_file=/keys/k.p8"
    )
    masked = redact_url(url)
    for secret in ("hunter2", "tok123", "pkABC"):
        assert secret not in masked
    assert "user=bob" in masked
    assert "role=r" in masked
    assert "private_key_file=/keys/k.p8" in masked  # names a file, not a credential
    assert f"password={MASK}" in masked


def test_redactor_masks_credential_parameters_in_free_text() -> None:
    """An error quoting a DSN with ``?sslpassword=`` loses the value, wherever it appears."""
    text = Redactor().text("cannot open postgresql://h/db?sslmode=require&sslpassword=s3cr3t: no")
    assert "s3cr3t" not in text
    assert "sslmode=require" in text


def test_redactor_registers_every_credential_of_a_url() -> None:
    """A driver echoing the bare value (no URL around it) is masked too."""
    redactor = Redactor()
    redactor.add_url("postgresql://u:pw-one@h/db?token=tok-two&sslmode=disable")
    text = redactor.text("auth failed for pw-one, then tok-two")
    assert "pw-one" not in text
    assert "tok-two" not in text


def test_a_url_after_a_long_run_of_scheme_characters_is_matched_from_the_run_start_only() -> None:
    """A match may start only where a run of scheme characters starts: tried at every
    position inside a long run (a hex id in a request body), each start scanned to the
    run's end, so redacting 8,000 letters took 0.5 s on the server's event loop."""
    text = "x" * 50 + "https://user:pw@host"
    starts = [p for p in range(len(text)) if _redact._URL_USERINFO.match(text, p)]
    assert starts == [0]
    assert redact_url(text) == "x" * 50 + "https://***@host"
    # what is masked is unchanged: leading digits and +.- stay, the scheme keeps its case
    assert redact_url("1+HTTPS://u:p@h") == "1+HTTPS://***@h"
    assert (
        redact_url("see (postgresql+psycopg://u:p@h/db)") == "see (postgresql+psycopg://***@h/db)"
    )
    assert redact_url("a://u@b://v@c") == "a://***@b://***@c"
    assert redact_url("9.9-1") == "9.9-1"


def test_display_url_masks_a_password_as_sqlalchemy_reads_it() -> None:
    """A generated password holds `/` (base64), which SQLAlchemy reads in a URL as it is:
    the URL pattern's user info stops at the first `/`, and messages naming a state store,
    a warehouse or an extract destination showed the whole password."""
    for url, shown in [
        ("postgresql://etl:Xk9/pQ+r==@db:5432/x", f"postgresql://{MASK}@db:5432/x"),
        (
            "postgresql://etl:a/b%40c@db/x?sslpassword=s",
            f"postgresql://{MASK}@db/x?sslpassword={MASK}",
        ),
        ("snowflake://etl:p/q@acct/db/schema", f"snowflake://{MASK}@acct/db/schema"),
        ("postgresql://etl@db/x", f"postgresql://{MASK}@db/x"),
        ("duckdb:///warehouse.duckdb", "duckdb:///warehouse.duckdb"),
        ("md:db?motherduck_token=t0k", f"md:db?motherduck_token={MASK}"),
    ]:
        assert display_url(url) == shown, url
