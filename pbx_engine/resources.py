"""Where the project's non-Python files live: Asterisk and Kamailio config, dialplans, SQL
migrations.

They sit at the repository's top level beside the packages; each may be moved with an
environment variable (the container image sets PBX_ENGINE_SQL_DIR).
"""

import os
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def _dir(env: str, default: str) -> Path:
    return Path(os.environ.get(env) or PROJECT_DIR / default)


ASTERISK_CONFIG_DIR = _dir("PBX_ENGINE_ASTERISK_CONFIG_DIR", "asterisk-config")
DIALPLANS_DIR = _dir("PBX_ENGINE_DIALPLANS_DIR", "dialplans")
SQL_DIR = _dir("PBX_ENGINE_SQL_DIR", "sql")
KAMAILIO_CONFIG_DIR = _dir("PBX_ENGINE_KAMAILIO_CONFIG_DIR", "kamailio")
