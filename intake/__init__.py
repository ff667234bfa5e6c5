"""The online intake server: stores sealed envelopes, nothing else."""

from __future__ import annotations

from flask import Flask, Response

from .config import IntakeConfig
from .pow import ProofOfWork
from .store import open_store
from .tlog import open_log

__all__ = ["IntakeConfig", "create_app"]


def create_app(config: IntakeConfig) -> Flask:
    """Build the intake application for `config`."""
    from . import api, log_api, logs, pages

    config.data_dir.mkdir(parents=True, exist_ok=True)
    # Before Flask makes its logger: Flask's default handler dates each line to the millisecond.
    logs.quiet_loggers(__name__, "werkzeug")
    app = Flask(__name__, static_folder=None)  # assets are served by the pages blueprint
    # One spelling per route: `//api/v1/keys` is a 404, not a redirect, and a
    # path SubmissionHandler does not answer can never reach a submission route.
    app.url_map.merge_slashes = False
    app.config["MAX_CONTENT_LENGTH"] = config.max_body
    # No automatic OPTIONS answers (Flask's are an empty text/html 200): OPTIONS is a 405 like any other method.
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    log = open_log(config)
    store = open_store(config, log)
    log.sync()
    app.extensions["dvr_store"] = store
    app.extensions["dvr_log"] = log

    keys = api.KeyCache(config)
    keys.get()  # a damaged keys.json stops the server here, not at its first request
    proof = ProofOfWork(config.difficulty) if config.proof_of_work else None
    app.register_blueprint(api.make_blueprint(keys, proof))
    app.register_blueprint(log_api.make_blueprint(config, log))
    pages.init_app(app, config)
    app.register_blueprint(pages.make_blueprint(config))

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok\n", mimetype="text/plain")

    api.init_errors(app, config)

    # The submission route, the one hot path, is answered in front of Flask.
    handler = api.SubmissionHandler(app.wsgi_app, config, store, log, keys, app.logger, proof)
    app.wsgi_app = handler  # type: ignore[method-assign]  # the middleware slot Flask documents
    return app
