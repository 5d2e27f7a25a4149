"""The base of every expected failure: its message is one line that names the input and what
to do. Interfaces print it without a traceback and exit with `exit_code`."""


class BotError(Exception):
    exit_code = 1
