"""The demo and drills: a shipped city (web/demo/city, OpenStreetMap data under the ODbL), scenario files
(web/demo/scenarios) and the player that runs one against the live service (``commandpost demo``)."""
