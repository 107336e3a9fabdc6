"""How customers reach a session: HTTP routes, signed tokens, the websocket and WebRTC tracks."""
