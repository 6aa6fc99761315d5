"""`gitops check`: sources -> targets -> rendered manifests -> schema, secret gate, policy -> findings -> report.

pipeline (check_repo, check_new_only), config (gitops.yaml check settings), schema (strict validation),
sourcemap (the source index: each file parsed once for duplicate keys, the gate and lines), secret_gate,
coverage (what could not be checked), findings (and CheckResult), rules (the model),
registry (every rule, one literal list), formatters (text, json, junit, github). The Mastodon pack is
gitops.policy. Nothing is imported here, so importing a submodule never drags the pipeline in.
"""
