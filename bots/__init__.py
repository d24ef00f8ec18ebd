"""The Teams door: the botbuilder adapter (the only module that imports botbuilder), router, commands, card actions."""
