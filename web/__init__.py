"""The web application: the collectors' desk, and the routers for webhooks and the codec server."""
