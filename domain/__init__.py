"""The rules of connected chats. Imports nothing from Teams, HTTP, botbuilder or the database."""
