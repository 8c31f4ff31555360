"""Where things are: the resource registry, reference layers, spatial queries, routing, layer import/export, tiles."""
