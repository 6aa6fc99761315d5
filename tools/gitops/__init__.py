"""gitops: render, check, diff and SOPS tooling for Kustomize + Flux repositories."""

__version__ = "0.1.0"
