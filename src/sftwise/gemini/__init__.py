"""Gemini on Vertex AI: clients, errors, Cloud Storage upload, tuning cost and job monitoring.

Everything here imports ``google.genai`` / ``google.cloud.storage`` lazily (inside functions), so that
``import sftwise.gemini.cost`` works without the ``sftwise[gemini]`` extra.
"""
