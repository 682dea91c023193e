"""toolkit: recipe-driven fine-tuning of BERT-, GPT-2- and T5-family models."""

__version__ = "0.1.0"
