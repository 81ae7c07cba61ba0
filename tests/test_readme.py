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


def test_modules_import_only_downwards_as_the_code_map_lists_them():
    """The code map orders the modules as data flows; a module may import only modules listed before it
    (lazy imports inside functions included), so analysis never sits under translation, nor files under torch."""
    import ast
    import re

    table = README.split("## Code map", 1)[1].split("\n## ", 1)[0]
    order = [name for row in table.splitlines() if row.startswith("| `")
             for name in re.findall(r"`(\w+)\.py`", row.split("|")[1])]
    package = Path(__file__).resolve().parent.parent / "nmt"
    modules = sorted(p.stem for p in package.glob("*.py") if not p.stem.startswith("__"))
    assert sorted(order) == modules, "the code map must list every module once"
    upward = []
    for position, name in enumerate(order):
        tree = ast.parse((package / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith("nmt"):
                continue
            names = [node.module.split(".")[1]] if "." in node.module else [a.name for a in node.names]
            upward += [f"{name} imports {m}" for m in names if m in order and order.index(m) >= position]
    assert not upward, upward
