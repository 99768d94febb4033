"""The operations log, `$ENTREPOT_HOME/logs/entrepot.log`: every line goes through the redactor."""

from __future__ import annotations

import logging

from entrepot.config import Settings
from entrepot.secrets.redact import RedactingFilter

_configured: set[str] = set()


def get_logger(settings: Settings) -> logging.Logger:
    logger = logging.getLogger("entrepot")
    path = settings.log_dir / "entrepot.log"
    if str(path) not in _configured:
        settings.log_dir.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        handler.addFilter(RedactingFilter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        _configured.add(str(path))
    return logger
