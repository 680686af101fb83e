"""The product's foundations, shared by every capability: error codes (`errors`), words and
collection names (`vocabulary`), deployment settings (`settings`), the catalog of models,
styles, colors and sizes (`catalog`), bounded retries of optimistic commits (`retry`), the
Firestore client (`firestore_client`), structured log lines (`request_log`), ISO weeks
(`weeks`) and who is calling (`auth`). Nothing here knows about credits or requests' life.

May import: nothing else of this package.
"""
