"""Inbound CRM webhooks and the notification outbox worker."""
