"""Production entry point: `gunicorn -c python:intake.gunicorn_conf 'intake.wsgi:from_environ()'`.

`DVR_INTAKE_DATA` names the data directory, which must exist and hold an
installed key bundle (intake/preflight.py); `DVR_INTAKE_ALLOW_NO_KEY=1`
serves without one (staging). gunicorn_conf.py checks the same in the
master before any worker starts, so that gunicorn stops with one line."""

from __future__ import annotations

from flask import Flask

from . import create_app
from .config import IntakeConfig
from .preflight import check_environ


def from_environ() -> Flask:
    check_environ()
    return create_app(IntakeConfig.from_environ())
