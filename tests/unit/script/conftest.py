"""Fixtures of the script and module tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import peewee as pw
import pytest

from geosip.db import models, schema
from geosip.db.connect import open_database


@pytest.fixture
def geosip_db(tmp_path: Path) -> Iterator[pw.Database]:
    """geosip's tables in a fresh SQLite file, bound as `geosip run` binds them; unbound
    afterwards so no test sees another's database."""
    database = open_database(f"sqlite:///{tmp_path / 'geosip.sqlite'}")
    schema.bind(database)
    schema.migrate(database)
    yield database
    models.database.initialize(None)
