"""Answers: extractive (default), LLM-written, streamed, and the OpenAI-compatible surface."""
