"""The command-line front end (`entrepot`, installed also as `dataos-ctl`).

Thin: it parses arguments, builds a request context for the local acting user (cli/context.py),
calls the service layer (`entrepot.services`) and prints. It owns output formats (tables on a
terminal, plain text when piped, JSON and YAML), exit codes and turning errors into messages.
Command bodies import the services lazily so `--help` and `get` start fast. A front end (the
top layer of the `layers` contract): every operation goes through a services function; below
that it imports only value types and pure helpers (errors, config, logs, redaction, addresses,
templates and schemas, statement checks); never the store (`front-ends-no-store`) or
`secrets.crypto`.
"""
