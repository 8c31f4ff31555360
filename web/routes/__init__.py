"""One router per area; ``web.app`` includes them all."""
