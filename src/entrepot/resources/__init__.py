"""Resource kinds (instance-secret, depot, workflow, policy) as typed models, and the rules
between them.

This folder owns what a valid manifest is: the pydantic models of each kind and version, the
table of depot source types with their connection fields and secret keys (`depot_types`), the
cross-resource rules (a depot needs an `acl: r` secret that exists), and the conversion of a
validated manifest into a `PlannedResource` the store can persist (secret values split out for
encryption). It imports `entrepot.errors`, `entrepot.manifest` and `entrepot.access.policy`
(what a stored policy compiles to); never the store, a connector, an orchestrator or the
services (the `layers` contract). Rules that need stored resources live in services/resources.py.
"""
