"""The [notify.slack], [notify.email] and [notify.webhook] tables through the config loader:
keys, the one-line errors with their line, and the credentials doctor looks for."""

from __future__ import annotations

import pytest

from safeship.config import ConfigError, parse_config
from safeship.doctor import credentials
from safeship.notify.settings import is_loopback_host

BASE = """\
[project]
name = "shop"

[environments.production]
port = 8081
target = { type = "local", command = ["python", "app.py"] }
"""

CHANNELS = """
[notify.slack]
webhook_env = "SHOP_SLACK"

[notify.email]
host = "smtp.acme.example"
port = 465
security = "tls"
username = "safeship"
password_env = "SHOP_SMTP_PASSWORD"
from = "safeship@acme.example"
to = ["ops@acme.example"]

[notify.webhook]
url_env = "SHOP_HOOK_URL"
secret_env = "SHOP_HOOK_SECRET"
service = "shop"
"""


def test_the_three_channels_load_and_name_their_credentials() -> None:
    config = parse_config(BASE + CHANNELS)
    email = config.notify.email
    assert email is not None and email.sender == "safeship@acme.example"
    assert (email.security, email.port, email.to) == ("tls", 465, ["ops@acme.example"])
    assert list(config.notify.sections()) == ["slack", "email", "webhook"]
    assert [(c.variable, c.used_by) for c in credentials(config)] == [
        ("SHOP_SLACK", "notify.slack"),
        ("SHOP_SMTP_PASSWORD", "notify.email"),
        ("SHOP_HOOK_URL", "notify.webhook"),
        ("SHOP_HOOK_SECRET", "notify.webhook (signature)"),
    ]


def test_clear_text_smtp_off_this_machine_is_a_one_line_error_with_its_line() -> None:
    source = BASE + CHANNELS.replace('security = "tls"', 'security = "none"')
    with pytest.raises(ConfigError) as info:
        parse_config(source)
    [problem] = info.value.problems
    assert problem.startswith("safeship.toml:") and "\n" not in problem
    assert 'security = "none" sends mail and passwords in clear text' in problem


def test_a_typo_and_a_missing_recipient_list_are_errors() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(BASE + '\n[notify.email]\nhost = "smtp.acme.example"\nform = "a@b.c"\n')
    text = "\n".join(info.value.problems)
    assert "notify.email.form" in text and "notify.email.to" in text


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True),
     ("10.0.0.1", False), ("smtp.acme.example", False)],
)  # fmt: skip
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback
