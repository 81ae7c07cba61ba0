"""The README documents every config key and every command."""

import dataclasses
from pathlib import Path

from nmt.cli import app
from nmt.config import Config

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_config_key_is_documented():
    missing = []
    for section in dataclasses.fields(Config):
        sub = section.default_factory() if section.default_factory is not dataclasses.MISSING else None
        names = [f.name for f in dataclasses.fields(sub)] if dataclasses.is_dataclass(sub) else [section.name]
        missing += [name for name in names if f"`{name}`" not in README]
    assert not missing, f"README lacks config keys: {missing}"


def test_every_command_is_documented():
    for command in app.registered_commands:
        name = command.name or command.callback.__name__
        assert f"`nmt {name}" in README, name
