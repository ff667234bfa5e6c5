"""An intake driven in-process, for the transparency tests."""

from __future__ import annotations

from pathlib import Path

from support import submission

import vault
from intake import IntakeConfig, create_app
from intake.export import export_batch
from intake.keyring import add_bundle


class Intake:
    """An intake data directory and its app, driven in-process."""

    def __init__(self, data: Path, bundle: dict) -> None:
        self.config = IntakeConfig(data_dir=data)
        data.mkdir(parents=True, exist_ok=True)
        add_bundle(self.config.keys_path, bundle)
        self.public_key = vault.load_bundle(bundle).public_key
        self._app = create_app(self.config)
        self.client = self._app.test_client()

    def submit(self, n: int, tag: str = "") -> list[dict]:
        out = []
        for i in range(n):
            env = vault.seal(submission() + f" {tag}{i}".encode(), self.public_key)
            resp = self.client.post("/api/v1/submissions", json=env.to_json())
            assert resp.status_code == 201
            out.append(resp.json)
        return out

    def export(self, path: Path) -> Path:
        assert export_batch(self.config, path).count > 0
        return path

    def close(self) -> None:
        self._app.extensions["dvr_store"].close()
