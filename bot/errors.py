"""The base of every expected failure: its message is one line that names the input and what
to do. Interfaces print it without a traceback and exit with `exit_code`."""

from bot.util.redact import redact


class BotError(Exception):
    exit_code = 1

    def __init__(self, *args: object):
        # The message often quotes what a server said back, which can echo a credential
        # (an Authorization header, a URL password): redacted when the error is made.
        super().__init__(*(redact(a) if isinstance(a, str) else a for a in args))
