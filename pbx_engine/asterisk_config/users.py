"""Who a private Asterisk runs as: never root. Started by root (CI, an operator's check), it runs
as the `asterisk` user the Debian package creates, and its runtime folder is handed to that user.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from pbx_engine.config import ConfigError

# Who Asterisk runs as when started by root.
UNPRIVILEGED_USER = "asterisk"


class AsteriskUserError(ConfigError):
    """No user to run Asterisk as, or one that cannot reach its folder; the message says why."""


def unprivileged_ids(user: str = UNPRIVILEGED_USER) -> tuple[int, int] | None:
    """(uid, gid) to run Asterisk as when we are root; None when we are not (it runs as us)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise AsteriskUserError(
            f"started as root, but there is no {user!r} user to run Asterisk as: install the "
            "asterisk package (it creates one), or run as an ordinary user"
        ) from None
    if entry.pw_uid == 0:
        raise AsteriskUserError(f"user {user!r} is root: Asterisk must not run as root")
    return entry.pw_uid, entry.pw_gid


def hand_over(folder: Path, uid: int, gid: int) -> None:
    """Give `folder` and everything in it to uid:gid (Asterisk writes its logs, spool, astdb,
    recordings and control socket there). Its parents must let that user through."""
    for parent in folder.parents:
        mode = parent.stat()
        if not (mode.st_mode & stat.S_IXOTH or mode.st_uid == uid):
            raise AsteriskUserError(
                f"Asterisk runs as uid {uid} and cannot reach {folder}: {parent} is closed to "
                "others (choose a runtime folder under /tmp)"
            )
    os.chown(folder, uid, gid)
    for root, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)
