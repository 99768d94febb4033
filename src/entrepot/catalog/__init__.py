"""Metis, the catalog: what scans found in each source, what changed, and search over it.

This folder owns the dataset model (`model.py`: a dataset, its address
`dataos://depot:collection/dataset`, scan filters), merging a scan into the metastore with its
change history and the deletion fail-safe (`merge.py`), and reading the catalog back (`read.py`:
ls, show, history, search; the cross-depot ones within the actor's scope, given as SQL).
Connectors produce datasets (they import `model.py`); the scanner runs them; this folder stores
them. It imports `entrepot.errors` and `entrepot.store`, nothing above them (the `layers`
contract): never a connector, an orchestrator or the services.
"""
