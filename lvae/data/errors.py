"""Errors raised by the data layer: one type so callers can catch bad input early."""


class DatasetError(ValueError):
    """A dataset file is missing, malformed or inconsistent.

    The message always names the file (or folder), the field and what was expected,
    so a user can fix the input without reading the loader's source.
    """
