"""Writes `.env.example` and the README's table of settings from service/settings.py, where
each setting is declared once. `--check` changes nothing and fails while either differs
(the tests and pre-commit run it).

    python tools/settings_docs.py [--check]
"""

import argparse
import sys
import textwrap
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from service.settings import DEFAULTS, Settings  # noqa: E402  (needs the path above)

ENV_EXAMPLE = PROJECT_DIR / ".env.example"
README = PROJECT_DIR / "README.md"
HEADER = """\
# Settings of this service: environment variables, or lines in a .env file in this folder
# (the real environment wins). Each default below is the one in service/settings.py: set
# only what differs. The generator wrote .env with a fresh SECRET_KEY; never commit .env.
# Written from service/settings.py by tools/settings_docs.py: change a setting there.
"""
TABLE_START = "<!-- settings: written from service/settings.py by tools/settings_docs.py -->\n"
TABLE_END = "<!-- end of settings -->\n"


def settings() -> list[tuple[str, str | None, str]]:
    """(name, default or None when required, meaning) of each setting, as declared."""
    return [
        (name.upper(), DEFAULTS.get(name.upper()), field.description or "")
        for name, field in Settings.model_fields.items()
    ]


def env_example() -> str:
    blocks = [HEADER]
    for name, default, meaning in settings():
        text = meaning.replace("`", "")
        lines = textwrap.wrap(
            text, width=88, initial_indent="# ", subsequent_indent="# ", break_on_hyphens=False
        )
        lines.append(f"{name}=" if default is None else f"# {name}={default}")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def readme_table() -> str:
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for name, default, meaning in settings():
        shown = "(none: required)" if default is None else f"`{default}`" if default else "(empty)"
        rows.append(f"| `{name}` | {shown} | {meaning} |")
    return TABLE_START + "\n".join(rows) + "\n" + TABLE_END


def with_table(readme: str) -> str:
    before, rest = readme.split(TABLE_START, 1)
    return before + readme_table() + rest.split(TABLE_END, 1)[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if either file differs")
    check = parser.parse_args().check
    readme = README.read_text(encoding="utf-8")
    if TABLE_START not in readme or TABLE_END not in readme:
        sys.exit(f"README.md: no settings table between {TABLE_START.strip()} and its end")
    wanted = {ENV_EXAMPLE: env_example(), README: with_table(readme)}
    stale = [path for path, text in wanted.items() if path.read_text(encoding="utf-8") != text]
    if check:
        for path in stale:
            print(f"{path.name} differs from service/settings.py: python tools/settings_docs.py")
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path], encoding="utf-8")
        print(f"wrote {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
