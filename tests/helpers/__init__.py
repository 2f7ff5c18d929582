"""Shared test fixtures and helpers: tests import these, never each other."""
