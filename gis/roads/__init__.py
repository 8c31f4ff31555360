"""Roads: the routing graph built from OSM road ways, and travel on it (routes, travel times, reach, isochrones)."""
