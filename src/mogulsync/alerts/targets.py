"""Where a channel sends, said without its secrets (for the record of alert deliveries)."""

from __future__ import annotations

from urllib.parse import urlsplit

from mogulsync.config.alerts import AlertChannel, SlackChannel, SmsChannel, WebhookChannel


def describe_target(channel: AlertChannel) -> str:
    """``<kind> <where>``: a URL's scheme and host only (its path and query may carry the
    token), the addresses of an e-mail or SMS channel and the server that relays them."""
    if isinstance(channel, SlackChannel):
        return f"slack {_origin(channel.url.get_secret_value())}"
    if isinstance(channel, WebhookChannel):
        return f"webhook ({channel.format}) {_origin(channel.endpoint)}"
    if isinstance(channel, SmsChannel):
        return f"sms to {', '.join(channel.to)} via {_origin(channel.api_url)}"
    port = f":{channel.port}" if channel.port else ""
    return f"email to {', '.join(channel.to)} via {channel.host}{port}"


def _origin(url: str) -> str:
    """``scheme://host[:port]``, never the user, password, path or query."""
    parts = urlsplit(url.strip())
    host = parts.hostname or "?"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not a number: the host says enough
        port = ""
    return f"{parts.scheme or 'https'}://{host}{port}"
