"""E-mail alerts over SMTP (STARTTLS, implicit TLS or plain), sent from a worker thread.

The standard library's ``smtplib`` is blocking, so each message is sent in a thread;
connections are short-lived (one per message), which suits a handful of alerts per run.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from mogulsync._retrying import stamina
from mogulsync.alerts._delivery import (
    WAIT_INITIAL_S,
    WAIT_JITTER_S,
    WAIT_MAX_S,
    AlertDeliveryError,
    Delivery,
    require,
)
from mogulsync.alerts.message import AlertMessage
from mogulsync.config.alerts import EmailChannel

#: SMTP reply codes 400-499 are temporary ("try again later")
_TEMPORARY = range(400, 500)


class EmailSender:
    """Sends alerts to the recipients of one e-mail channel."""

    def __init__(self, name: str, config: EmailChannel, delivery: Delivery) -> None:
        self.name = name
        self._config = config
        self._delivery = delivery

    async def send(self, message: AlertMessage) -> None:
        """Send ``message`` as a plain-text e-mail."""
        await asyncio.to_thread(self._send, build_email(message, self._config))

    def _send(self, mail: EmailMessage) -> None:
        for attempt in stamina.retry_context(
            on=_retriable,
            attempts=self._delivery.attempts,
            timeout=None,
            wait_initial=WAIT_INITIAL_S,
            wait_max=WAIT_MAX_S,
            wait_jitter=WAIT_JITTER_S,
        ):
            with attempt:
                try:
                    self._deliver(mail)
                except smtplib.SMTPAuthenticationError:
                    raise AlertDeliveryError(
                        f"channel `{self.name}`: the SMTP server refused the login",
                        hint="Check username and password.",
                    ) from None
                except smtplib.SMTPRecipientsRefused as exc:
                    refused = ", ".join(sorted(exc.recipients))
                    raise AlertDeliveryError(
                        f"channel `{self.name}`: the SMTP server refused {refused}"
                    ) from None

    def _deliver(self, mail: EmailMessage) -> None:
        config = self._config
        timeout = self._delivery.timeout_s
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if config.security == "ssl":
            smtp = smtplib.SMTP_SSL(config.host, config.smtp_port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(config.host, config.smtp_port, timeout=timeout)
        with smtp:
            if config.security == "starttls":
                smtp.starttls(context=context)
            if config.username is not None and config.password is not None:
                password = require(config.password.get_secret_value(), self.name, "password")
                smtp.login(config.username, password)
            smtp.send_message(mail)


def build_email(message: AlertMessage, config: EmailChannel) -> EmailMessage:
    """The e-mail for ``message``: subject is the title, body the plain-text summary."""
    mail = EmailMessage()
    mail["Subject"] = message.title
    mail["From"] = config.from_
    mail["To"] = ", ".join(config.to)
    # smtplib adds neither; relays and spam filters downgrade mail without them
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = make_msgid(domain=_domain(config.from_))
    mail.set_content(message.text())
    return mail


def _domain(address: str) -> str:
    """The domain of ``From`` (``Alerts <a@example.com>`` → ``example.com``)."""
    return parseaddr(address)[1].rpartition("@")[2] or "localhost"


def _retriable(exc: Exception) -> bool:
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code in _TEMPORARY
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    # refused connections and timeouts may pass; SMTP protocol and certificate errors will not
    return isinstance(exc, OSError) and not isinstance(
        exc, smtplib.SMTPException | ssl.SSLCertVerificationError
    )
