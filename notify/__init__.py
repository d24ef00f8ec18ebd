"""The notification pipeline: change events -> outbox -> paced, leased delivery into connected chats."""
