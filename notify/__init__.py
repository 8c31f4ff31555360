"""How news travels: the event bus and relay, the websocket hub, field alerts, CAP, outbound channels."""
