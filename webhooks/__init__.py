"""Inbound CRM webhooks (the Dataverse HTTP intake); the pipeline behind it is notify/."""
