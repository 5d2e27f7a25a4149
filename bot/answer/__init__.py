"""A question to a verified `Answer`: retrieval, the extractive and LLM answerers, citations."""
