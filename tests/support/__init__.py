"""Helpers shared by the tests: a controllable TCP proxy, users and tokens."""
