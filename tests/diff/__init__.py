"""Tests for gitops.diff: the engine, the formatters and `gitops diff` end to end."""
