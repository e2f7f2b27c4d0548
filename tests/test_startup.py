"""A process refuses to run on a database whose schema is behind the code, saying what to do."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support import ROOT, command


def test_serve_on_an_unmigrated_database_says_to_migrate(tmp_path: Path, redis_url: str) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'new.db'}",
        "REDIS_URL": redis_url,
        "PORT": "0",
    }
    result = subprocess.run(
        command("serve"), env=env, capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode != 0
    assert "run `actions-gateway migrate`" in result.stderr
