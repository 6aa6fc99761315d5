"""`gitops diff`: rendered output of two git refs compared per target.

refs (check out, plan, render both sides) -> engine (pair objects, explain renames and moves) using
fields (field-level changes) and secrets (values compared by digest, never shown) -> model (DiffResult)
-> formatters (text, unified, markdown, json).
"""
