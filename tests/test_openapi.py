"""The template's openapi.json: the Jinja file each bake renders is what the code writes.

Each bake's own suite checks its committed document against `flask --app app spec`; this
finds the stale template file sooner, with the command that rewrites it.
"""

from __future__ import annotations

import subprocess
import sys

from tests.support import TEMPLATE_DIR


def test_template_openapi_json_is_what_the_routes_describe() -> None:
    script = TEMPLATE_DIR / "scripts" / "openapi_json.py"
    done = subprocess.run(
        [sys.executable, str(script), "--check"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr + f"\nrun: python {script}"
