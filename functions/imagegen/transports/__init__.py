"""How clients reach the operations: HTTPS endpoints (`http_endpoints`, with `http_api`: JSON
in and out, the one table from error codes to HTTP statuses, emulator-only test headers),
callable functions for the Firebase client SDKs (`callable_endpoints`), and the local Functions
emulator's keep-alive (`emulator_server`). Each adapter parses a request, calls one operation
and shapes its result with `records.shapes`; `main.py` binds them to Firebase triggers.

May import: core, providers, records, generation, operations.
"""
