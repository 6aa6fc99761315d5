"""Tests for gitops.sops: SOPS v3 byte-compatible with the sops CLI."""
