"""Who goes: unit workflow, recommendations, dispatch, the situation picture."""
