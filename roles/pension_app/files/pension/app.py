"""The HTTP API (JSON), served by gunicorn: `gunicorn 'pension.app:create_app()'`.

  POST /api/v1/enrollments    {request_id, id_number, name, township[, date]}       -> 201
  POST /api/v1/contributions  {request_id, id_number, year, grade, amount}          -> 201
  GET  /api/v1/persons/<id_number>                                                  -> 200
  GET  /health                                                                      -> 200 / 503

A write repeated with its request_id is answered 200 with the first response and the header
Idempotent-Replay: true; nothing is written twice."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from flask import Flask, Response, g, jsonify, request

from pension import config, logs, store, validation
from pension.db import Database, Unavailable

log = logging.getLogger("pension.app")


def _reply(body: dict[str, Any], status: int, **headers: str) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers)
    return response


def _error(status: int, message: str, **extra: Any) -> Response:
    return _reply({"error": message, **extra}, status)


def _register_errors(app: Flask) -> None:
    @app.errorhandler(validation.BadRequest)
    def bad_request(exc: Exception) -> Response:
        return _error(400, str(exc))

    @app.errorhandler(validation.Invalid)
    def invalid(exc: validation.Invalid) -> Response:
        return _error(422, "validation failed", fields=exc.fields)

    @app.errorhandler(store.NotFound)
    def not_found(exc: Exception) -> Response:
        return _error(404, str(exc))

    @app.errorhandler(store.Conflict)
    def conflict(exc: Exception) -> Response:
        return _error(409, str(exc))

    @app.errorhandler(Unavailable)
    def unavailable(exc: Exception) -> Response:
        return _error(503, "the database is unavailable, try again later")

    @app.errorhandler(404)
    def no_route(exc: Exception) -> Response:
        return _error(404, "no such resource")

    @app.errorhandler(405)
    def no_method(exc: Exception) -> Response:
        return _error(405, "method not allowed")


def _body() -> Any:
    body = request.get_json(silent=True)
    if body is None:
        raise validation.BadRequest("the body must be JSON (Content-Type: application/json)")
    return body


def _written(outcome: store.Outcome, what: str) -> Response:
    body = outcome.body
    if outcome.replayed:
        log.info("replayed %s request_id=%s x_request_id=%s", what, body.get("request_id"), g.x_request_id)
        return _reply(body, 200, **{"Idempotent-Replay": "true"})
    subject = body.get("person") or body.get("contribution") or {}
    log.info(
        "%s request_id=%s person=%s x_request_id=%s",
        what,
        body.get("request_id"),
        logs.masked(subject.get("id_number", "")),
        g.x_request_id,
    )
    return _reply(body, 201)


def _register_api(app: Flask, db: Database) -> None:
    @app.post("/api/v1/enrollments")
    def enroll() -> Response:
        clean = validation.enrollment(_body(), dt.date.today())
        return _written(db.run(lambda conn: store.enroll(conn, clean)), "enrolled")

    @app.post("/api/v1/contributions")
    def contribute() -> Response:
        clean = validation.contribution(_body(), dt.date.today())
        return _written(db.run(lambda conn: store.contribute(conn, clean)), "contributed")

    @app.get("/api/v1/persons/<id_number>")
    def person(id_number: str) -> Response:
        problem = validation.id_number_problem(id_number)
        if problem:
            raise validation.Invalid({"id_number": problem})
        return _reply(db.run(lambda conn: store.person(conn, id_number.upper())), 200)

    @app.get("/health")
    def health() -> Response:
        name = db.settings.host
        try:
            found = db.run(store.database)
        except Unavailable as exc:
            return _reply({"status": "unavailable", "database": {"host": name, "error": str(exc)}}, 503)
        return _reply({"status": "ok", "database": {"host": name, **found}}, 200)


def create_app(path: str | None = None) -> Flask:
    logs.setup()
    settings = config.load(path)
    app = Flask("pension")
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    db = Database(settings)
    log.info("serving, database %s", settings.describe())

    @app.before_request
    def request_id() -> None:
        given = request.headers.get("X-Request-Id", "")
        g.x_request_id = given if validation.REQUEST_ID.match(given) else uuid.uuid4().hex

    @app.after_request
    def echo_request_id(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("x_request_id", "")
        return response

    _register_errors(app)
    _register_api(app, db)
    return app
