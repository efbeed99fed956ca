"""A loopback contract server for Slack incoming webhooks.

Shapes written from Slack's documentation, not recorded from the live API:
- https://api.slack.com/messaging/webhooks (POST JSON to the webhook URL
  https://hooks.slack.com/services/T.../B.../XXXX with "text" and optionally "blocks"; the text
  is the fallback shown in notifications, so it is expected even with blocks. Success is HTTP
  200 with the plain-text body "ok")
- https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks (errors as
  an HTTP status and a short plain-text string: 400 invalid_payload, 400 user_not_found, 403
  action_prohibited, 404 channel_not_found, 410 channel_is_archived, 500 rollup_error)
- 404 no_service for a webhook that is disabled, removed or mistyped: named in Slack's
  webhook error list (https://api.slack.com/messaging/webhooks#handling_errors); only seen here
  through third-party pages quoting it, not Slack's own page. "no_text" (neither text nor
  blocks) is this server's guess at Slack's answer, not verified.
- https://api.slack.com/docs/rate-limits (incoming webhooks: about one message per second, short
  bursts allowed; over the limit, HTTP 429 with a Retry-After header in seconds)
- https://api.slack.com/reference/surfaces/formatting#escaping (&, <, > escaped in text)
- https://api.slack.com/reference/block-kit/blocks (at most 50 blocks in a message; a header's
  text is plain_text of at most 150 characters; a section has text or fields, its text at most
  3,000 characters, at most 10 fields of at most 2,000 each; a context has at most 10
  elements; a divider has no text) and
  https://api.slack.com/reference/block-kit/composition-objects#text (type plain_text or
  mrkdwn, text at least 1 character). Slack answers a payload that breaks them with
  400 invalid_blocks (https://api.slack.com/messaging/webhooks#handling_errors).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from loopback import ContractServer

TEAM, CHANNEL = "T0SAFESHIP", "B0ALERTS"
SECRET = "Zq7Xw3Lk9Mv2Np5Rt8Ys1Bh4"  # the secret part of the webhook URL


@dataclass
class Message:
    text: str
    blocks: Any = None
    received_at: float = field(default_factory=time.time)  # epoch seconds


class SlackServer(ContractServer):
    def __init__(self) -> None:
        super().__init__()
        self.webhook_url = f"{self.url}/services/{TEAM}/{CHANNEL}/{SECRET}"
        self.messages: list[Message] = []
        self.rejected: list[str] = []  # why each payload Block Kit refuses was refused
        self.rate_limit_next = 0  # answer this many posts with 429 and Retry-After
        self.retry_after = 1

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/services/{team}/{channel}/{secret}", self._post)

    @staticmethod
    def _text(body: str, status: int) -> web.Response:
        return web.Response(text=body, status=status, content_type="text/plain")

    async def _post(self, request: web.Request) -> web.Response:
        info = request.match_info
        if (info["team"], info["channel"], info["secret"]) != (TEAM, CHANNEL, SECRET):
            return self._text("no_service", 404)
        if self.rate_limit_next > 0:
            self.rate_limit_next -= 1
            return web.Response(
                text="rate_limited",
                status=429,
                content_type="text/plain",
                headers={"Retry-After": str(self.retry_after)},
            )
        if not request.content_type.startswith("application/json"):
            return self._text("invalid_payload", 400)
        try:
            body = await request.json()
        except ValueError:
            return self._text("invalid_payload", 400)
        if not isinstance(body, dict):
            return self._text("invalid_payload", 400)
        text, blocks = body.get("text"), body.get("blocks")
        if not text and not blocks:
            return self._text("no_text", 400)
        if (text is not None and not isinstance(text, str)) or (
            blocks is not None and not isinstance(blocks, list)
        ):
            return self._text("invalid_payload", 400)
        problem = block_kit_problem(blocks) if blocks is not None else None
        if problem is not None:
            self.rejected.append(problem)
            return self._text("invalid_blocks", 400)
        self.messages.append(Message(text or "", blocks))
        return self._text("ok", 200)


def _text_problem(obj: Any, where: str, limit: int, kinds: tuple[str, ...]) -> str | None:
    if not isinstance(obj, dict) or obj.get("type") not in kinds:
        return f"{where}: a text object of type {'/'.join(kinds)} is required"
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return f"{where}: text must be a non-empty string"
    if len(text) > limit:
        return f"{where}: text is {len(text)} characters, over {limit}"
    return None


def block_kit_problem(blocks: Any) -> str | None:
    """What breaks Block Kit's documented limits in ``blocks``, or None."""
    if not isinstance(blocks, list) or len(blocks) > 50:
        return "blocks must be a list of at most 50"
    for index, block in enumerate(blocks):
        where = f"blocks[{index}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "header":
            problem = _text_problem(block.get("text"), where, 150, ("plain_text",))
        elif kind == "section":
            text, fields = block.get("text"), block.get("fields")
            if text is None and fields is None:
                return f"{where}: a section needs text or fields"
            problem = None
            if text is not None:
                problem = _text_problem(text, where, 3000, ("mrkdwn", "plain_text"))
            if problem is None and fields is not None:
                if not isinstance(fields, list) or not 1 <= len(fields) <= 10:
                    return f"{where}: 1 to 10 fields"
                for f_index, item in enumerate(fields):
                    f_where = f"{where}.fields[{f_index}]"
                    problem = problem or _text_problem(
                        item, f_where, 2000, ("mrkdwn", "plain_text")
                    )
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
                return f"{where}: 1 to 10 context elements"
            problem = None
            for e_index, item in enumerate(elements):
                e_where = f"{where}.elements[{e_index}]"
                problem = problem or _text_problem(item, e_where, 3000, ("mrkdwn", "plain_text"))
        elif kind == "divider":
            problem = None if set(block) <= {"type", "block_id"} else f"{where}: divider has extras"
        else:
            return f"{where}: unknown block type {kind!r}"
        if problem is not None:
            return problem
    return None
