"""`gitops check`: sources -> targets -> rendered manifests -> schema, secret gate, policy -> findings -> report.

pipeline (check_repo, check_new_only), config (gitops.yaml check settings), schema (strict validation),
sourcemap (source files: duplicate keys, lines), secret_gate (hygiene), findings, rules (the model),
registry (every rule, one literal list), formatters (text, json, junit, github). The Mastodon pack is
gitops.policy. Nothing is imported here, so importing a submodule never drags the pipeline in.
"""
