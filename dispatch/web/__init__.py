"""The web edge: Flask app factory, REST blueprints, Socket.IO handlers, auth."""

from dispatch.web.app import create_app, socketio

__all__ = ["create_app", "socketio"]
