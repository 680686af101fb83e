"""The weekly report `reports/{YYYY-Www}`: its queries (`report_queries`), its pure
aggregation and anomaly rules (`report_rules`, with `stats`), incidents that group anomalies by
cause (`incidents`), and the migration that gives older request documents what the fast report
path needs (`migration`).

May import: core, records, billing.
"""
