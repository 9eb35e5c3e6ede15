"""The content store's backends: the S3 store against a real S3-compatible server (moto, in its
own process), its settings failing closed, write-once under races, multipart uploads, and
missing content answered clearly by both backends."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import uuid

import httpx
import pytest
from pydantic import ValidationError

from kommune.testing.auth import lifespan_client
from kommune.testing.service import Personas, assert_problem
from kommune_documents.documents.backends import build_store
from kommune_documents.documents.responses import Unsatisfiable, requested_range
from kommune_documents.documents.s3store import S3Store, StoreUnavailableError
from kommune_documents.documents.storage import ContentMissing
from kommune_documents.main import create_app
from kommune_documents.settings import DocumentsSettings

from .conftest import Backend, Staff, open_file, s3_values, sha256_of, upload
from .s3server import S3Server

MiB = 1024 * 1024


def text_of(size: int) -> bytes:
    """``size`` bytes of plain text, unique per call."""
    line = f"Zeile {uuid.uuid4().hex} Bauakte Stadtverwaltung\n".encode()
    return (line * (size // len(line) + 1))[:size]


async def test_a_large_upload_goes_up_in_parts_and_downloads_in_ranges_across_them(
    s3_client: httpx.AsyncClient,
    s3_settings: DocumentsSettings,
    s3_server: S3Server,
    people: Personas,
    staff: Staff,
) -> None:
    content = text_of(6 * MiB + 123)  # over the 5 MiB part size: a multipart upload
    case_file = await open_file(s3_client, people, staff.bau)
    response = await upload(s3_client, staff.bau, case_file["id"], content, filename="gross.txt")
    assert response.status_code == 201, response.text
    sha = sha256_of(content)
    assert response.json()["versions"][0]["sha256"] == sha
    key = f"{s3_settings.s3_prefix}{sha[:2]}/{sha[2:4]}/{sha}"
    head = s3_server.admin.head_object(Bucket=s3_server.bucket, Key=key)
    assert head["ContentLength"] == len(content)
    assert head["ETag"].strip('"').endswith("-2")  # two parts
    url = f"/api/v1/documents/{response.json()['id']}/content"
    full = await s3_client.get(url, headers=staff.bau.headers)
    assert full.status_code == 200
    assert full.headers["content-length"] == str(len(content))
    assert full.headers["etag"] == f'"{sha}"'
    assert hashlib.sha256(full.content).hexdigest() == sha
    boundary = 5 * MiB
    across = await s3_client.get(
        url, headers={**staff.bau.headers, "Range": f"bytes={boundary - 10}-{boundary + 9}"}
    )
    assert across.status_code == 206
    assert across.content == content[boundary - 10 : boundary + 10]
    assert across.headers["content-range"] == f"bytes {boundary - 10}-{boundary + 9}/{len(content)}"
    tail = await s3_client.get(url, headers={**staff.bau.headers, "Range": "bytes=-7"})
    assert tail.status_code == 206
    assert tail.content == content[-7:]
    # If-Range with another validator: the whole content, not the range.
    stale = await s3_client.get(
        url, headers={**staff.bau.headers, "Range": "bytes=0-9", "If-Range": '"other"'}
    )
    assert stale.status_code == 200
    assert len(stale.content) == len(content)
    # Several ranges are not split up: the whole content (RFC 9110 lets a server ignore Range).
    several = await s3_client.get(url, headers={**staff.bau.headers, "Range": "bytes=0-1,5-6"})
    assert several.status_code == 200
    assert len(several.content) == len(content)


async def test_the_s3_store_never_overwrites_and_concurrent_copies_are_stored_once(
    s3_settings: DocumentsSettings, s3_server: S3Server
) -> None:
    store = S3Store(s3_settings)
    content = text_of(64 * 1024)
    staged = [store.stage(len(content)) for _ in range(2)]
    try:
        for copy in staged:
            copy.feed(content)
            await copy.finish()
        created = await asyncio.gather(*(store.publish(copy) for copy in staged))
    finally:
        for copy in staged:
            copy.discard()
    assert sorted(created) == [False, True]  # one stored it, the other found it there
    sha = sha256_of(content)
    assert await asyncio.to_thread(store.exists, sha)


@pytest.mark.parametrize("size", [1000, 6 * MiB], ids=["one-put", "multipart"])
@pytest.mark.parametrize("race", [False, True], ids=["seen", "raced"])
async def test_an_object_under_the_key_is_never_replaced(
    s3_settings: DocumentsSettings,
    s3_server: S3Server,
    monkeypatch: pytest.MonkeyPatch,
    size: int,
    race: bool,
) -> None:
    """Whatever the key holds stays. ``raced``: the existence check missed it (another upload
    stored it in between), so the conditional write itself must refuse."""
    store = S3Store(s3_settings)
    if race:
        monkeypatch.setattr(store, "exists", lambda sha256: False)
    content = text_of(size)
    key = store.key(sha256_of(content))
    s3_server.admin.put_object(Bucket=s3_server.bucket, Key=key, Body=b"placed before")
    staged = store.stage(len(content))
    try:
        staged.feed(content)
        await staged.finish()
        assert await store.publish(staged) is False
    finally:
        staged.discard()
    kept = s3_server.admin.get_object(Bucket=s3_server.bucket, Key=key)["Body"].read()
    assert kept == b"placed before"
    uploads = s3_server.admin.list_multipart_uploads(Bucket=s3_server.bucket)
    assert [u for u in uploads.get("Uploads", []) if u["Key"] == key] == []  # aborted
    s3_server.admin.delete_object(Bucket=s3_server.bucket, Key=key)


async def test_missing_content_is_a_clear_503_not_a_500(
    backend: Backend, people: Personas, staff: Staff
) -> None:
    client = backend.client
    case_file = await open_file(client, people, staff.bau)
    content = text_of(4000)
    document = (await upload(client, staff.bau, case_file["id"], content)).json()
    sha = document["versions"][0]["sha256"]
    backend.remove(sha)
    url = f"/api/v1/documents/{document['id']}/content"
    for headers in ({}, {"Range": "bytes=0-9"}):
        lost = await client.get(url, headers={**staff.bau.headers, **headers})
        problem = assert_problem(lost, 503)
        assert "content store" in str(problem["detail"])
    still = await client.get(f"/api/v1/documents/{document['id']}", headers=staff.bau.headers)
    assert still.status_code == 200


def test_the_s3_backend_without_credentials_does_not_start(
    monkeypatch: pytest.MonkeyPatch, s3_server: S3Server
) -> None:
    for name, value in s3_values(s3_server).items():
        monkeypatch.setenv(f"DOCUMENTS_{name.upper()}", str(value))
    assert DocumentsSettings().storage_backend == "s3"
    for missing in ("DOCUMENTS_S3_SECRET_ACCESS_KEY", "DOCUMENTS_S3_ACCESS_KEY_ID"):
        with monkeypatch.context() as env:
            env.setenv(missing, " ")  # blank counts as missing
            with pytest.raises(ValidationError, match=missing):
                DocumentsSettings()
        with monkeypatch.context() as env:
            env.delenv(missing)
            with pytest.raises(ValidationError, match=missing):
                DocumentsSettings()
    with monkeypatch.context() as env:
        env.delenv("DOCUMENTS_S3_BUCKET")
        with pytest.raises(ValidationError, match="DOCUMENTS_S3_BUCKET"):
            DocumentsSettings()
    # S3 only when chosen: the s3_* settings alone do not switch the backend.
    monkeypatch.delenv("DOCUMENTS_STORAGE_BACKEND")
    assert DocumentsSettings().storage_backend == "filesystem"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"s3_secret_access_key": "wrong-secret"}, "SignatureDoesNotMatch"),
        ({"s3_access_key_id": "AKIAUNKNOWN000000000"}, "InvalidAccessKeyId"),
        ({"s3_bucket": "no-such-bucket"}, "NoSuchBucket"),
    ],
)
async def test_the_service_refuses_to_start_with_a_store_that_refuses_access(
    s3_settings: DocumentsSettings,
    s3_server: S3Server,
    issuer_transport: httpx.ASGITransport,
    change: dict[str, str],
    expected: str,
) -> None:
    settings = DocumentsSettings.model_validate({**s3_settings.model_dump(), **change})
    app = create_app(settings, http_transport=issuer_transport)
    with pytest.raises(StoreUnavailableError) as refused:
        async with lifespan_client(app):
            pytest.fail("the service started")
    message = str(refused.value)
    assert expected in message
    assert "DOCUMENTS_S3_" in message
    assert s3_server.secret_access_key not in message
    assert "wrong-secret" not in message


async def test_an_unreachable_endpoint_is_named_at_start_up(s3_settings: DocumentsSettings) -> None:
    with socket.socket() as bound_not_listening:  # connections to it are refused at once
        bound_not_listening.bind(("127.0.0.1", 0))
        port = bound_not_listening.getsockname()[1]
        values = {**s3_settings.model_dump(), "s3_endpoint_url": f"http://127.0.0.1:{port}"}
        store = S3Store(DocumentsSettings.model_validate(values))
        with pytest.raises(StoreUnavailableError, match="cannot be reached"):
            await store.check()


async def test_a_local_copy_for_tools_that_need_a_path(backend: Backend) -> None:
    """Text extraction and OCR read files: each backend hands out one, S3 a temporary copy."""
    store = build_store(backend.settings)
    content = text_of(3 * MiB + 5)
    staged = store.stage(len(content))
    try:
        staged.feed(content)
        await staged.finish()
        await store.publish(staged)
    finally:
        staged.discard()
    with store.local_copy(sha256_of(content)) as path:
        assert path.read_bytes() == content
    if backend.name == "s3":
        assert not path.exists()  # the temporary copy is gone
        assert list(store.tmp.glob("*.copy")) == []
    with pytest.raises(ContentMissing), store.local_copy("0" * 64):
        pass


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", (0, 9)),
        ("bytes=90-", (90, 99)),
        ("bytes=95-500", (95, 99)),  # clamped to the end
        ("bytes=-10", (90, 99)),
        ("bytes=-500", (0, 99)),
        ("bytes=100-", "unsatisfiable"),
        ("bytes=-0", "unsatisfiable"),
        ("bytes=9-2", None),  # invalid: ignored
        ("bytes=0-1,5-6", None),  # several: the whole content
        ("bytes=abc", None),
        ("items=0-9", None),
        ("bytes=-", None),
        ("bytes=" + "9" * 30 + "-", None),  # absurd numbers are not parsed
    ],
)
def test_which_range_an_object_store_download_serves(
    header: str | None, expected: tuple[int, int] | str | None
) -> None:
    if expected == "unsatisfiable":
        with pytest.raises(Unsatisfiable):
            requested_range(header, 100)
    else:
        assert requested_range(header, 100) == expected


@pytest.mark.parametrize(
    "change",
    [
        {"storage_backend": "ftp"},
        {"s3_endpoint_url": "file:///etc/passwd"},
        {"s3_endpoint_url": "http://host name"},
        {"s3_bucket": "Bucket_With_Upper"},
        {"s3_prefix": "../escape/"},
        {"s3_prefix": "no-slash"},
        {"s3_part_bytes": 1024},  # below S3's smallest part
        {"s3_addressing_style": "dns"},
    ],
)
def test_bad_s3_settings_are_refused(s3_server: S3Server, change: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        DocumentsSettings.model_validate({**s3_values(s3_server), **change})
    assert DocumentsSettings.model_validate(s3_values(s3_server)).storage_backend == "s3"
