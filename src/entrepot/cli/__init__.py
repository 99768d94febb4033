"""The command-line front end (`entrepot`, installed also as `dataos-ctl`).

Thin: it parses arguments, calls `entrepot.service.Service`, and prints. It owns output formats
(tables on a terminal, plain text when piped, JSON and YAML), exit codes and turning errors into
messages. Command bodies import the service lazily so `--help` and `get` start fast.
"""
