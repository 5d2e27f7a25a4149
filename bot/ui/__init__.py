"""The interfaces: command line, chat, rendering, Slack, MCP. They import `bot.core` and the base."""
