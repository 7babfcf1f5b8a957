"""Bench launcher: the app served by gevent (monkey-patched first) in one process."""

from gevent import monkey

# Before anything imports threading, socket, queue or time: the store's writer, the hub and the
# fan-out threads become greenlets, and their locks and queues cooperative.
monkey.patch_all()


def create_gevent_app(var_dir: str | None = None, port: int | None = None):  # type: ignore[no-untyped-def]
    """Build the app as `dispatch serve` does, with Flask-SocketIO in ``async_mode="gevent"``.

    ``app.py`` binds Socket.IO in threading mode; this launcher forces gevent on that one call
    (an experiment for `dispatch bench live --server gevent`, not a setting).
    """
    import logging

    from dispatch.settings import load_settings
    from dispatch.web.app import create_app, socketio
    from dispatch.web.live import get_hub

    logging.basicConfig(level=logging.WARNING)
    init_app = socketio.init_app

    def init_app_gevent(app, **kwargs):  # type: ignore[no-untyped-def]
        kwargs["async_mode"] = "gevent"
        return init_app(app, **kwargs)

    socketio.init_app = init_app_gevent  # type: ignore[method-assign]
    app = create_app(load_settings(var_dir=var_dir, port=port))
    if socketio.async_mode != "gevent":
        raise RuntimeError(f"Socket.IO runs in {socketio.async_mode} mode, not gevent")
    get_hub(app)
    return app


def serve(var_dir: str, port: int, *, websocket: str = "gevent-websocket") -> None:
    """Serve on 127.0.0.1:``port`` with gevent's WSGI server.

    ``websocket``: "gevent-websocket" (its handler, faster with wsaccel installed) or "simple"
    (simple-websocket on gevent, as engine.io does when gevent-websocket is absent).
    """
    import sys

    if websocket == "simple":
        sys.modules["geventwebsocket"] = None  # type: ignore[assignment]  # import fails: fallback
    from dispatch.web.app import socketio

    app = create_gevent_app(var_dir, port)
    socketio.run(app, host="127.0.0.1", port=port, use_reloader=False, log_output=False)


if __name__ == "__main__":
    import sys

    serve(sys.argv[1], int(sys.argv[2]), websocket=(sys.argv[3:] or ["gevent-websocket"])[0])
