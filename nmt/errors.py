"""User-facing errors: one line, names the file/line/key and the fix; the CLI exits 2."""


class NmtError(Exception):
    """An error caused by the user's input, shown without a traceback."""

    exit_code = 2
