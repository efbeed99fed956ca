"""[notify.pagerduty] and [notify.github-issue] in safeship.toml: defaults, the TOML key of the
GitHub-issue channel, and one-line errors that name the file, line and key."""

from __future__ import annotations

import pytest

from safeship.config import ConfigError, parse_config

BASE = """\
[project]
name = "shop"

[environments.production]
port = 8081
target = { type = "local", command = ["python", "app.py"] }
"""


def test_both_tables_load_with_their_defaults_under_their_notifier_names() -> None:
    config = parse_config(
        BASE + '\n[notify.pagerduty]\n\n[notify.github-issue]\nrepo = "acme/shop"\n'
    )
    sections = config.notify.sections()
    assert list(sections) == ["pagerduty", "github-issue"]
    pagerduty, issues = sections["pagerduty"], sections["github-issue"]
    assert pagerduty.routing_key_env == "PAGERDUTY_ROUTING_KEY"
    assert pagerduty.change_environments == ["production"]
    assert (issues.repo, issues.token_env, issues.labels) == (
        "acme/shop", "GITHUB_TOKEN", ["safeship-alert"],
    )  # fmt: skip


def test_a_typo_or_a_missing_repo_is_one_line_naming_the_key() -> None:
    with pytest.raises(ConfigError) as typo:
        parse_config(BASE + '\n[notify.pagerduty]\nrouting_key = "abc"\n')
    assert typo.value.problems == ["safeship.toml:9: notify.pagerduty.routing_key: unknown key"]
    with pytest.raises(ConfigError) as missing:
        parse_config(BASE + "\n[notify.github-issue]\nlabels = []\n")
    assert missing.value.problems == [
        "safeship.toml:8: notify.github-issue.repo: required key is missing"
    ]
