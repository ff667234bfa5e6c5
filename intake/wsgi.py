"""Production entry point: `gunicorn -c python:intake.gunicorn_conf 'intake.wsgi:from_environ()'`."""

from __future__ import annotations

from flask import Flask

from . import create_app
from .config import IntakeConfig


def from_environ() -> Flask:
    return create_app(IntakeConfig.from_environ())
