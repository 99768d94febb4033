"""Who may do what: the vocabulary of actions, the use cases, policies, and the one function that
decides (`decide.Authorizer.decide`).

Pure logic: it reads nothing and writes nothing. The service layer loads the stored grants and
policies, asks it before every operation (`RequestContext.ensure`), and audits every refusal.
Imports nothing from the package but itself (the `access-pure` contract in pyproject.toml);
everything above may import it.
"""
