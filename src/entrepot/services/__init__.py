"""The service layer, split by use case. Every front end (the CLI, the SDK, Spark reads, the REST
server to come) builds a `RequestContext` (context.py) saying who acts, and calls these
functions with it first; each authorizes through `ctx.ensure` (one function decides:
access/decide.py) before it reads or writes what the actor could not.

- `identity`: the acting user, users and tags, use-case grants, `auth can-i`
- `resources`: apply (plan, diff, dry run, lint), get (listings filtered in SQL), delete
- `connections`: the only decryption; checks; `DepotAccess` for the orchestrators
- `workflows`: run a workflow (the scanner), its runs
- `catalog`: Metis reads, filtered by what the actor may read
- `query`: an engine session over the depots the actor may read; Spark reads; the Trino export
- `admin`: master key rotation, the audit trail

It may import everything below it (scanner, query, connectors, catalog, store, resources, logs,
manifest, secrets, access, errors, config); only the front ends (cli, client, spark) import it.
Nothing below imports it (the `layers` and `services-on-top` contracts): an orchestrator is
handed a `DepotAccess` and may only name it, or a `RequestContext`, in annotations.
"""
