"""``dangan validate 档号`` on a home whose primary location is an S3 bucket: the AIP is read
through the location's API, so a good copy validates and a flipped byte in the bucket is found."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from archive.config import StorageConfig
from archive.errors import BagError
from dangan import Archive
from dangan.cli import main

from .conftest import make_scan_batch

pytest_plugins = ["tests.s3server"]

CLASS = {"category": "WS", "year": 2023, "retention": "D30", "carrier": "纸质", "author": "社区", "date": "20230301"}
CODE = "J012-WS·2023-D30-0001"


@pytest.fixture
def s3_primary(tmp_path, s3_server):
    bucket = s3_server.new_bucket(object_lock=False)  # unlocked: the test overwrites a file in place
    storage = (
        StorageConfig("offsite", "s3", {"endpoint_url": s3_server.endpoint_url, "bucket": bucket}),
        StorageConfig("local", "fs", {"path": "store"}),
    )
    with Archive.init(
        tmp_path / "home", fonds_code="J012", fonds_name="振兴社区居民委员会", storage=storage, ingest={"ocr": "off"}
    ) as arc:
        result = arc.ingest(make_scan_batch(tmp_path / "batch", 1), **CLASS)
        assert [r.status for r in result.items] == ["archived"], result.to_json()
        yield arc


def validate_cli(arc: Archive) -> tuple[int, dict]:
    result = CliRunner().invoke(main, ["--home", str(arc.home), "validate", CODE, "--json"], catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout)


def test_a_good_aip_on_an_s3_primary_validates(s3_primary):
    arc = s3_primary
    assert arc.locations()[0].describe().startswith("offsite (s3:")
    validation = arc.validate(CODE)
    assert validation.to_json()["valid"] == 1 and validation.exit_code == 0
    (result,) = validation.to_json()["bags"]
    assert result["valid"] and result["errors"] == [] and result["files_checked"] > 0
    assert validate_cli(arc) == (validation.exit_code, validation.to_json())


def test_a_byte_flipped_in_the_bucket_makes_the_aip_invalid(s3_primary):
    arc = s3_primary
    s3 = arc.locations()[0]
    page = next(p for p, _ in s3.list_files(f"J012/{CODE}") if p.startswith("data/original/"))
    obj = f"{s3.prefix}aips/J012/{CODE}/{page}"
    body = s3.client.get_object(Bucket=s3.bucket, Key=obj)["Body"].read()
    s3.client.put_object(Bucket=s3.bucket, Key=obj, Body=body[:-1] + bytes([body[-1] ^ 1]))
    validation = arc.validate(CODE)
    (result,) = validation.to_json()["bags"]
    assert not result["valid"] and validation.exit_code != 0
    assert {(e["kind"], e["path"]) for e in result["errors"]} == {("corrupt", page)}
    assert validate_cli(arc) == (validation.exit_code, validation.to_json())


def test_an_aip_missing_from_the_s3_primary_is_said_plainly(s3_primary):
    arc = s3_primary
    s3 = arc.locations()[0]
    s3.client.delete_object(Bucket=s3.bucket, Key=f"{s3.prefix}committed/J012/{CODE}")
    with pytest.raises(BagError, match="主存储位置 offsite 没有此 AIP"):
        arc.validate(CODE)
