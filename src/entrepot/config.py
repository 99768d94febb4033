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


def ensure_private_dir(path: Path) -> None:
    """Create a folder only its owner may enter (0700, whatever the umask), parents as usual.
    An existing folder is left as it is: it may be one the user chose and shares on purpose."""
    if path.is_dir():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        return  # another process created it first
    path.chmod(0o700)  # mkdir's mode is masked by the umask: say it exactly


def create_private_file(path: Path) -> None:
    """Create `path` readable and writable by its owner only (0600) if it does not exist yet,
    and take group and other access away from an existing one (made by an older version).

    An existing file is never opened: closing any descriptor of a SQLite database drops the
    POSIX locks every connection of this process holds on it (fcntl locks are per process),
    and another process could then reset the WAL under a reader of ours ("disk I/O error").
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:  # created meanwhile by another process
            mode = path.stat().st_mode
        else:
            os.fchmod(fd, 0o600)  # whatever the umask
            os.close(fd)
            return
    if mode & 0o077:
        path.chmod(0o600)


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
