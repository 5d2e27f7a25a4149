"""The Slack interface: a Bolt app over the `Bot` facade (see bot/ui/slack/app.py)."""
