"""Outbound Teams messaging (Bot Connector client, the outgoing activity envelope): used by bots/, tabs/ and notify/."""
