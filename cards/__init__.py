"""Adaptive Card templates (Jinja, JSON-escaped) and the renderer that turns handler data into cards."""
