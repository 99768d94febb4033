"""The operations log, `$ENTREPOT_HOME/logs/entrepot.log`: every line goes through the redactor."""

from __future__ import annotations

import logging

from entrepot.config import Settings, create_private_file, ensure_private_dir
from entrepot.secrets.redact import redactor

_configured: set[str] = set()


class RedactingFilter(logging.Filter):
    """Attach to a handler: every record's final message is scrubbed."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redactor.redact(message)
        record.args = None
        if record.exc_text:
            record.exc_text = redactor.redact(record.exc_text)
        return True


def get_logger(settings: Settings) -> logging.Logger:
    logger = logging.getLogger("entrepot")
    path = settings.log_dir / "entrepot.log"
    if str(path) not in _configured:
        ensure_private_dir(settings.home)
        ensure_private_dir(settings.log_dir)
        create_private_file(path)  # before the handler opens it with the umask's mode
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        handler.addFilter(RedactingFilter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        _configured.add(str(path))
    return logger
