"""tunewise: should you fine-tune, and what did fine-tuning do to the model?"""

__version__ = "0.1.0"
