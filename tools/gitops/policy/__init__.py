"""The Mastodon policy pack of `gitops check`: rule modules (rules_*, budget, routing, suppress), the policy
context they judge, and the runner. The public API is gitops.policy.api. Nothing is imported here: the
registry imports the rule modules, and an eager package would import the registry back.
"""
