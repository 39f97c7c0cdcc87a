"""Real deployments: drive the Pulumi CLI over every layer of the manifest.

* :mod:`.cli` - a thin wrapper around the ``pulumi`` executable (subprocess): the child
  environment (state backend, passphrase), streaming with a layer prefix, secret scrubbing,
  Ctrl-C forwarding and lock detection.
* :mod:`.preflight` - every check that must pass before any state is touched.
* :mod:`.orchestrator` - ``up-all``, ``down-all`` and the per-layer operations.
* :mod:`.outputs` - the flat outputs file for integration tests and CI.

Nothing here names a layer: order comes from :func:`shared.manifest.ordered`, refusal rules from
:func:`shared.manifest.dependents` and each layer's ``reads``.
"""
