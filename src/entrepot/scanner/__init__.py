"""Workflows and their runs: the scanner stack (`scanner:2.0`) and the run records.

This folder owns running a workflow's DAG in local mode (jobs in dependency order, a failed job
skipping its dependants), the scanner stack (resolve the depot, scan it through its connector
with the filters pushed down, merge the result into the catalog), and recording each run with
its nodes, counts, errors and log. An orchestrator layer: it imports `entrepot.catalog`,
`entrepot.connectors`, `entrepot.resources` and the store (the `Store` it is handed writes the
catalog and the run records); depots and their credentials come through the `DepotAccess` it
is handed by services/workflows.py. It never imports the services or `secrets.crypto` (the
`layers`, `services-on-top` and `decryption` contracts).
"""
