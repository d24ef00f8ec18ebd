"""Every command the bot understands, gathered from the declarations its handlers are registered with
(bots/commands.py, bots/collab_commands.py, bots/set_command.py): the manifest's command lists and the README
table come from here, `help` from the router, and a test checks the router registers exactly these."""
from __future__ import annotations

from bots import collab_commands, commands, set_command
from bots.router import Command

__all__ = ["COMMANDS", "Command"]

COMMANDS: tuple[Command, ...] = (*commands.COMMANDS, *collab_commands.COMMANDS, *set_command.COMMANDS)
