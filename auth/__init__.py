"""Tokens: validating incoming JWTs (Bot Framework, Entra ID SSO) and obtaining outgoing ones."""
