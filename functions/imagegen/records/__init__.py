"""A generation request as data: the validated input of an order (`validation`), the request
document and its only mapping to and from Firestore (`request_record`), the webhook a request
may carry (`webhooks`: URL rules, signature, delivery), the reads of balances, ledgers and
requests page by page (`history`), and the JSON every transport answers with (`shapes`).
No credit moves here.

May import: core, providers.
"""
