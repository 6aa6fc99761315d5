"""What Flux applies: Flux Kustomizations as render targets, built with kustomize-controller's semantics.

Modules: objects (the Kustomization model), envsubst + glob (postBuild substitution), files (the source
artifact's YAML files, parsed once), build (the kustomization the controller builds), postbuild (variables,
substitution, commonMetadata, owner labels), discovery (clusters, targets, the recursive render).
See docs/flux.md.
"""
