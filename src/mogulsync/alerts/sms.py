"""Text messages through Twilio's Messages REST API.

One ``POST {api_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`` per recipient, its
body form-encoded (``To``, ``From``, ``Body``) and authenticated with HTTP basic auth
(account SID : auth token), as Twilio documents it. Twilio answers ``201`` with the
message resource; 429 and 5xx are retried like every other channel.
"""

from __future__ import annotations

import httpx

from mogulsync._retrying import stamina
from mogulsync._tls import verify_for
from mogulsync.alerts._delivery import (
    WAIT_INITIAL_S,
    WAIT_JITTER_S,
    WAIT_MAX_S,
    Delivery,
    check_response,
    require,
    retriable,
)
from mogulsync.alerts.message import AlertMessage
from mogulsync.config.alerts import SmsChannel

#: Twilio refuses bodies longer than this many characters
TWILIO_BODY_LIMIT = 1600
#: an SMS is read on a phone: the title, the counts and the command, no error list
_ELLIPSIS = "…"


def messages_url(config: SmsChannel) -> str:
    """Where Twilio takes new messages for this account."""
    root = config.api_url.rstrip("/")
    return f"{root}/2010-04-01/Accounts/{config.account_sid}/Messages.json"


def sms_body(message: AlertMessage) -> str:
    """A short text: what happened, the counts and where to look."""
    lines = [message.title]
    if message.run_id != "test":
        lines += [message.counts_line, message.hint]
    if message.reason:
        lines.append(message.reason)
    text = "\n".join(lines)
    if len(text) > TWILIO_BODY_LIMIT:
        text = text[: TWILIO_BODY_LIMIT - len(_ELLIPSIS)] + _ELLIPSIS
    return text


class SmsSender:
    """Sends alerts as text messages to every number of one channel."""

    def __init__(self, name: str, config: SmsChannel, delivery: Delivery) -> None:
        self.name = name
        self._config = config
        self._delivery = delivery

    async def send(self, message: AlertMessage) -> None:
        """Send ``message`` to each recipient (a failure stops before the next one)."""
        token = require(self._config.auth_token.get_secret_value(), self.name, "auth_token")
        auth = httpx.BasicAuth(self._config.account_sid, token)
        body = sms_body(message)
        for number in self._config.to:
            form = {"To": number, "From": self._config.from_, "Body": body}
            await self._post(form, auth)

    async def _post(self, form: dict[str, str], auth: httpx.BasicAuth) -> None:
        async for attempt in stamina.retry_context(
            on=retriable,
            attempts=self._delivery.attempts,
            timeout=None,
            wait_initial=WAIT_INITIAL_S,
            wait_max=WAIT_MAX_S,
            wait_jitter=WAIT_JITTER_S,
        ):
            with attempt:
                url = messages_url(self._config)
                async with httpx.AsyncClient(
                    timeout=self._delivery.timeout_s, verify=verify_for(url)
                ) as client:
                    response = await client.post(url, data=form, auth=auth)
                check_response(response)
