"""Text representation for the message models (intent, sentiment)."""

from cxops.text.embeddings import SentenceEncoder, get_encoder

__all__ = ["SentenceEncoder", "get_encoder"]
