"""Looking for the key: its forms, a log capture, and what a user could see of an error."""

import json
import logging
import traceback
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from .cases import ESCAPED_KEY
from .conftest import FAULT_KEY

FORMS = {
    "raw": FAULT_KEY,
    "json": json.dumps(FAULT_KEY)[1:-1],
    "json-slash": json.dumps(FAULT_KEY)[1:-1].replace("/", "\\/"),
    "json-unicode": ESCAPED_KEY,
    "percent": quote(FAULT_KEY, safe=""),
    "percent-path": quote(FAULT_KEY),
    "percent-plus": quote_plus(FAULT_KEY),
}


class Capture(logging.Handler):
    """Keeps every record, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts += [self.format(record), repr(record.args), record.getMessage()]


def texts_of_error(error):
    texts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        texts += [str(error), repr(error)]
        for name in ("body", "details", "headers", "messages", "partial_completion", "url"):
            value = getattr(error, name, None)
            if value is not None:
                texts.append(repr(value))
        if getattr(error, "headers", None) is not None:
            texts += [f"{name}: {value}" for name, value in error.headers.items()]
        if getattr(error, "details", None) is not None:
            texts.append(json.dumps(error.details, default=str))
        # The chain as traceback (and error trackers) follow it: a context raised
        # `from None` is not shown.
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return texts


def leaks(texts: Iterable[str]) -> list[str]:
    """The texts holding the key in any of its `FORMS`."""
    return [text for text in texts if any(form in text for form in FORMS.values())]
