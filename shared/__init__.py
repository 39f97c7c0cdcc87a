"""The library every layer of the ML API platform imports.

Settings, naming, tags, the output contract, the layer manifest and stack-reference helpers
live here so that no layer spells its own names, tags or upstream wiring.
"""

APP = "mlapi"
"""Short application name: the first part of every project, resource and stack name."""
