"""warmgate: an LLM API gateway that keeps calls on warm caches."""

__version__ = "0.1.0"
