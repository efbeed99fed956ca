"""``[environments.X.post_deploy]`` in safeship.toml: the tag's pattern is checked when the
config loads (known placeholders only, git's rules for a ref's name, a name that differs from
one deployment to the next), artifacts stay under the project directory, and what is given to
git as an argument cannot be read as an option. Each problem is one line naming its key."""

from __future__ import annotations

import pytest

from safeship.config import ConfigError, parse_config
from safeship.postdeploy.tag import next_tag_name

CONFIG = """\
[environments.production]
port = 8081
target = {{ command = ["python", "app.py"] }}

[environments.production.post_deploy]
{table}
"""
VALUES = {"environment": "production", "version": "v7", "date": "2026-11-30", "commit": "ab12"}


def problem(table: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(CONFIG.format(table=table))
    (only,) = info.value.problems
    assert "\n" not in only
    return only


def test_the_settings_load_with_their_defaults() -> None:
    table = 'tag = "deploy/{environment}/{date}.{n}"\nartifacts = ["dist/*.whl", "sbom.json"]'
    settings = parse_config(CONFIG.format(table=table)).environments["production"].post_deploy
    assert (settings.remote, settings.push, settings.signing_key) == ("origin", True, "")
    assert settings.artifacts == ["dist/*.whl", "sbom.json"]
    assert settings.configured and not settings.notify
    empty = parse_config(CONFIG.format(table="")).environments["production"].post_deploy
    assert not empty.configured


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            'tag = "deploy/{when}.{n}"',
            "post_deploy.tag: tag 'deploy/{when}.{n}': unknown placeholder {when}; known: "
            "{environment}, {version}, {date}, {n}, {commit}",
        ),
        ('tag = "deploy/{n:03}"', "tag 'deploy/{n:03}': {n} takes no format or conversion"),
        ('tag = "deploy/{n"', "tag 'deploy/{n': "),
        (
            'tag = "deploy..{version}"',
            "tag 'deploy..{version}' is not a valid git tag name: it contains '..'",
        ),
        ('tag = "rel {version}"', "is not a valid git tag name: it contains ' '"),
        ('tag = "deploy/{version}.lock"', "its part 'v1.lock' ends with '.lock'"),
        ('tag = "-{version}"', "it begins with '-'"),
        ('tag = "deploy/{environment}"', "names every deployment the same"),
        ('artifacts = ["../secrets.txt"]', "artifact '../secrets.txt' must be a path under"),
        ('artifacts = ["/etc/passwd"]', "artifact '/etc/passwd' must be a path under"),
        ('remote = "--upload-pack=evil"', "remote '--upload-pack=evil': no spaces, and no '-'"),
        ('signing_key = "-x"', "signing_key '-x': no spaces, and no '-' at the start"),
    ],
)
def test_a_bad_setting_is_one_line_naming_its_key(table: str, expected: str) -> None:
    found = problem(table)
    assert "environments.production.post_deploy." in found
    assert expected in found


def test_n_is_one_more_than_the_highest_number_that_name_has() -> None:
    pattern = "deploy/{environment}/{date}.{n}"
    taken = {
        "deploy/production/2026-11-30.1",
        "deploy/production/2026-11-30.4",
        "deploy/production/2026-11-29.9",  # another day
        "deploy/staging/2026-11-30.7",  # another environment
        "deploy/production/2026-11-30.x",
    }
    assert next_tag_name(pattern, VALUES, taken) == "deploy/production/2026-11-30.5"
    assert next_tag_name(pattern, VALUES, set()) == "deploy/production/2026-11-30.1"
    # Without {n}: the name itself, unless it is taken (a tag is never overwritten).
    assert next_tag_name("release/{version}", VALUES, set()) == "release/v7"
    assert next_tag_name("release/{version}", VALUES, {"release/v7"}) is None
