"""The content store in an S3-compatible object store (``DOCUMENTS_STORAGE_BACKEND=s3``).

Same rules as on the filesystem (ADR 0019): the key is ``<prefix><aa>/<bb>/<sha256>``; content is
staged locally while it is hashed, then uploaded from that file, in parts of
``DOCUMENTS_S3_PART_BYTES`` when larger (multipart upload), so memory stays bounded by one part.
Every write is conditional (``If-None-Match: *``): the store refuses to replace an object, a
second copy of the same bytes is dropped (dedup, also when two uploads race), and S3 verifies the
SHA-256 of each put and part (``x-amz-checksum-sha256``) before it accepts them.

boto3 is synchronous and thread-safe per client: every call runs in a worker thread
(``anyio.to_thread``), one client per process.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from kommune_documents.documents.storage import ContentMissing, ContentStore, Readable, key_of

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

    from kommune_documents.settings import DocumentsSettings

ALREADY_THERE = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
"""What a conditional write answers when the key exists (or is being written concurrently)."""
MISSING = {"NoSuchKey", "404", "NotFound"}


class StoreUnavailableError(RuntimeError):
    """The object store cannot be used with this configuration (raised at start-up)."""


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _checksum(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


class S3Store(ContentStore):
    backend = "s3"

    def __init__(self, settings: DocumentsSettings) -> None:
        super().__init__(settings.storage_path)
        if not (settings.s3_bucket and settings.s3_access_key_id and settings.s3_secret_access_key):
            raise StoreUnavailableError("The S3 content store needs a bucket and credentials.")
        self.bucket = settings.s3_bucket
        self.prefix = settings.s3_prefix
        self.part_bytes = settings.s3_part_bytes
        self.endpoint = settings.s3_endpoint_url or f"AWS {settings.s3_region}"
        self.client: S3Client = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id.get_secret_value(),
            aws_secret_access_key=settings.s3_secret_access_key.get_secret_value(),
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": settings.s3_addressing_style},
                retries={"mode": "standard", "max_attempts": 3},
                connect_timeout=5,
                read_timeout=60,
                max_pool_connections=20,
            ),
        )

    def key(self, sha256: str) -> str:
        return self.prefix + key_of(sha256)

    async def check(self) -> None:
        await super().check()
        await anyio.to_thread.run_sync(self._check)

    def _check(self) -> None:
        """One listing of the prefix: proves endpoint, bucket and credentials (a HEAD would
        hide the reason in a bodiless 403)."""
        try:
            self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)
        except ClientError as error:
            detail = error.response.get("Error", {})
            raise StoreUnavailableError(
                f"The S3 content store refused access to bucket {self.bucket!r} at "
                f"{self.endpoint}: {detail.get('Code', '?')} ({detail.get('Message', '')}). "
                "Check DOCUMENTS_S3_BUCKET, DOCUMENTS_S3_ACCESS_KEY_ID and "
                "DOCUMENTS_S3_SECRET_ACCESS_KEY."
            ) from None
        except BotoCoreError as error:
            raise StoreUnavailableError(
                f"The S3 content store at {self.endpoint} cannot be reached: {error}. "
                "Check DOCUMENTS_S3_ENDPOINT_URL."
            ) from None

    def exists(self, sha256: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as error:
            if _code(error) in MISSING:
                return False
            raise
        return True

    def _publish(self, source: Path, sha256: str) -> bool:
        key = self.key(sha256)
        if self.exists(sha256):
            return False
        try:
            if source.stat().st_size <= self.part_bytes:
                data = source.read_bytes()
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=data,
                    IfNoneMatch="*",
                    ChecksumSHA256=base64.b64encode(bytes.fromhex(sha256)).decode(),
                )
            else:
                self._multipart(source, key)
        except ClientError as error:
            if _code(error) in ALREADY_THERE:
                return False  # stored meanwhile by a concurrent upload of the same bytes
            raise
        return True

    def _multipart(self, source: Path, key: str) -> None:
        upload_id = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=key, ChecksumAlgorithm="SHA256"
        )["UploadId"]
        parts: list[CompletedPartTypeDef] = []
        try:
            with source.open("rb") as content:
                while data := content.read(self.part_bytes):
                    number = len(parts) + 1
                    checksum = _checksum(data)
                    answer = self.client.upload_part(
                        Bucket=self.bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=data,
                        ChecksumSHA256=checksum,
                    )
                    parts.append(
                        {"ETag": answer["ETag"], "PartNumber": number, "ChecksumSHA256": checksum}
                    )
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                IfNoneMatch="*",
            )
        except BaseException:
            with contextlib.suppress(BotoCoreError, ClientError):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise

    def open(self, sha256: str, start: int = 0, end: int | None = None) -> Readable:
        extra: dict[str, Any] = {}
        if start or end is not None:
            extra["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key(sha256), **extra)
        except ClientError as error:
            if _code(error) in MISSING:
                raise ContentMissing() from None
            raise
        body: Readable = answer["Body"]
        return body

    def delete(self, sha256: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(sha256))
