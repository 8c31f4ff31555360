"""The small shared kernel: settings, database, errors, events, users and the audit trail.

Nothing here imports another Commandpost package; everything else may import from here.
"""
