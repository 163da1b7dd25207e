"""Write the template's {{cookiecutter.project_slug}}/openapi.json from the code.

A bake commits the OpenAPI document its routes describe. The document depends on two
answers only: the project's name (its title) and the database (the notes routes). This
bakes both databases, runs each bake's `flask --app app spec`, and joins the two into one
Jinja file. Run it after changing a route or a model: `uv run python scripts/openapi_json.py`
(`--check` fails while the committed file differs, as the tests do).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
TARGET = TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / "openapi.json"
NAME = "Flask Service"
TITLE = f'"title": {json.dumps(NAME)},'


def document(database: str, into: Path) -> list[str]:
    """The lines `flask --app app spec` writes in a default bake with `database`."""
    project = Path(
        cookiecutter(
            str(TEMPLATE_DIR),
            no_input=True,
            output_dir=str(into / database),
            extra_context={"project_name": NAME, "database": database},
        )
    )
    (project / ".env").unlink()  # as in a fresh clone: the document needs no secret
    environ = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DATABASE_URL")}
    command = [sys.executable, "-m", "flask", "--app", "app", "spec", "--quiet", "--output"]
    subprocess.run([*command, "openapi.json"], cwd=project, env=environ, check=True)  # noqa: S603
    return (project / "openapi.json").read_text(encoding="utf-8").splitlines(keepends=True)


def joined(without: list[str], with_database: list[str]) -> str:
    """One Jinja file: lines only a database bake has sit in `{%- if database %}` blocks."""
    out = ['{%- set database = cookiecutter.database == "postgresql" -%}\n']
    matcher = difflib.SequenceMatcher(a=without, b=with_database, autojunk=False)
    for tag, a1, a2, b1, b2 in matcher.get_opcodes():
        if tag == "equal":
            out += without[a1:a2]
            continue
        # `{%-` eats the newline before the tag, so each block leaves no blank line.
        if tag in ("insert", "replace"):
            out += ["{%- if database %}\n", *with_database[b1:b2]]
        if tag in ("delete", "replace"):
            out += ["{%- else %}\n" if tag == "replace" else "{%- if not database %}\n"]
            out += without[a1:a2]
        out.append("{%- endif %}\n")
    text = "".join(out)
    if text.count(TITLE) != 1:
        raise SystemExit(f"error: expected one {TITLE} in the document")
    return text.replace(TITLE, '"title": {{ cookiecutter.project_name | tojson }},')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        text = joined(document("none", Path(scratch)), document("postgresql", Path(scratch)))
    if args.check:
        if TARGET.read_text(encoding="utf-8") != text:
            print(f"error: {TARGET} is stale: run scripts/openapi_json.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
