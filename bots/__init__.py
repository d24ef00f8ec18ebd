"""The Teams door: the activity endpoint (adapter.py reads, authenticates and answers; activity.py reads the JSON),
router, commands, card actions."""
