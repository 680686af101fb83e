"""Conversations: a user's sessions (`users/{uid}/sessions/{sessionId}`) and their turns, the
generation requests that name the session (`sessions`): create, list, read with the turns,
the latest completed image a turn continues from and the instructions before it, and delete
(the session hidden, its requests soft-deleted as the gallery does).

May import: core, providers, records, gallery.
"""
