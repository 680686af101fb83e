"""The application layer: every operation of the product, written once, for every transport.

Each function takes typed inputs (the verified `Caller`, a validated order, page parameters),
decides what the caller may do, runs the domain, and returns a typed result or raises a
`DomainError`. Transports are thin adapters around it: the HTTP endpoints (`http_endpoints`)
and the callables (`callable_endpoints`) parse a request, call one function here and shape the
answer (`shapes`); the scheduled and task functions in `main.py` call it directly. Nothing here
knows about HTTP. One module per concern:

- `generating`: charge, generate and settle (synchronous or queued), cancel.
- `reads`: balances, ledgers, requests, images, health.
- `admin`: grants, the audit, crash recovery, weekly reports, the migration.
- `notifications`: webhooks for settled requests.
"""
