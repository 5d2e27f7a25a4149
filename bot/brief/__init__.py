"""Articles to a verified `Briefing`: selection, topics, timeline, LLM map/reduce, claims, dates."""
