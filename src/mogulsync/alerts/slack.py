"""Slack incoming webhooks: ``{"text": ..., "blocks": [...]}`` with mrkdwn sections."""

from __future__ import annotations

from mogulsync.alerts._delivery import Delivery, post_json, require
from mogulsync.alerts.message import AlertMessage, Trigger
from mogulsync.config.alerts import SlackChannel

#: Slack rejects a section whose text is longer than this
SLACK_SECTION_LIMIT = 3000
_ICONS = {
    Trigger.FAILED: ":red_circle:",
    Trigger.FAILED_ROWS: ":warning:",
    Trigger.DRIFT: ":left_right_arrow:",
    Trigger.RECOVERED: ":large_green_circle:",
    Trigger.SUCCEEDED: ":white_check_mark:",
    Trigger.TEST: ":wave:",
    Trigger.DEAD_LETTERS: ":incoming_envelope:",
    Trigger.BACKLOG: ":hourglass:",
}


class SlackSender:
    """Posts alerts to one Slack incoming webhook."""

    def __init__(self, name: str, config: SlackChannel, delivery: Delivery) -> None:
        self.name = name
        self._config = config
        self._delivery = delivery

    async def send(self, message: AlertMessage) -> None:
        """Post ``message`` to the channel's webhook."""
        url = require(self._config.url.get_secret_value(), self.name, "url")
        await post_json(url, slack_body(message), self._delivery)


def slack_body(message: AlertMessage) -> dict[str, object]:
    """The webhook payload: plain ``text`` for notifications, ``blocks`` for the channel."""
    blocks: list[dict[str, object]] = [
        _section(f"{_ICONS[message.trigger]} *{_escape(message.title)}*"),
        _section(_escape(message.counts_line)),
    ]
    if message.reason:
        blocks.append(_section(f"```{_escape(message.reason)}```"))
    if message.errors:
        lines = "\n".join(f"• {_escape(line)}" for line in message.error_lines())
        blocks.append(_section(f"*First failed rows*\n{lines}"))
    if message.trigger is not Trigger.TEST:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"`{message.hint}`"}]}
        )
    return {"text": _escape(message.title), "blocks": blocks}


def _section(text: str) -> dict[str, object]:
    if len(text) > SLACK_SECTION_LIMIT:
        text = f"{text[: SLACK_SECTION_LIMIT - 1]}…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _escape(text: str) -> str:
    """Slack's three control characters in mrkdwn."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
