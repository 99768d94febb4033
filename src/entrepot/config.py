"""Where things live and who is acting: `$ENTREPOT_HOME`, the store URL, the acting user.

Stdlib only: the CLI reads this on every start.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    home: Path
    store_url: str
    user: str

    @property
    def sqlite_path(self) -> Path | None:
        prefix = "sqlite:///"
        if self.store_url.startswith(prefix):
            return Path(self.store_url[len(prefix) :])
        return None

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"


def load_settings(home_dir: Path | None = None) -> Settings:
    """The settings from the environment; `home_dir` (the SDK's `home=`) wins over it."""
    given = home_dir or os.environ.get("ENTREPOT_HOME") or "~/.entrepot"
    home = Path(given).expanduser().absolute()
    url = (None if home_dir else os.environ.get("ENTREPOT_STORE_URL")) or (
        f"sqlite:///{home / 'entrepot.db'}"
    )
    user = os.environ.get("ENTREPOT_USER") or _os_user()
    return Settings(home=home, store_url=url, user=user)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return f"uid{os.getuid()}"
