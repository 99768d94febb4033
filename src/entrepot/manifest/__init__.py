"""Manifests: read YAML with positions, fill placeholders and `$VAR`s, validate into typed models.

This folder owns turning bytes a user wrote into `Document`s (plain data plus a map from field
path to line and column) and turning validation failures into errors that point at the exact
line, for any pydantic model it is given. It imports only `entrepot.errors`; `entrepot.resources`
(the models) imports it, not the reverse.
"""
