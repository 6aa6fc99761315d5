"""End-to-end tests: the CLI over real repositories, real kustomize and real git."""
