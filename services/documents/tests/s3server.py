"""A real S3-compatible server for the tests: ``moto`` in server mode, on a free loopback port.

It runs with authentication on (``INITIAL_NO_AUTH_ACTION_COUNT``): the first few requests set up
an IAM user with an S3 policy, its access key and the bucket; every later request must be signed
with that key, so wrong credentials are refused as by a real store (``InvalidAccessKeyId``,
``SignatureDoesNotMatch``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import boto3

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BUCKET = "kommune-documents-test"
REGION: Final = "eu-central-1"
UNSIGNED_SETUP_REQUESTS = 3
"""create_user, put_user_policy, create_access_key: then authentication is on."""
START_DEADLINE = 30.0


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str
    access_key_id: str
    secret_access_key: str
    admin: S3Client
    """A client with the valid key, for looking at (and tampering with) the bucket."""

    def keys(self) -> set[str]:
        names: set[str] = set()
        for page in self.admin.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            names |= {item["Key"].rsplit("/", 1)[-1] for item in page.get("Contents", [])}
        return names


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    until = time.monotonic() + START_DEADLINE
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > until:
                raise TimeoutError("moto_server did not listen in time") from None
            time.sleep(0.05)  # polling a port that is not open yet: no event to wait on


@contextmanager
def moto_server() -> Iterator[S3Server]:
    port = _free_port()
    env = {
        **os.environ,
        "INITIAL_NO_AUTH_ACTION_COUNT": str(UNSIGNED_SETUP_REQUESTS),
        "AWS_ACCESS_KEY_ID": "setup",
        "AWS_SECRET_ACCESS_KEY": "setup",
    }
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(port, process)
        endpoint = f"http://127.0.0.1:{port}"
        iam = boto3.session.Session().client(
            "iam",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
        )
        iam.create_user(UserName="documents")
        iam.put_user_policy(
            UserName="documents",
            PolicyName="content-store",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName="documents")["AccessKey"]
        admin = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )
        admin.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield S3Server(endpoint, BUCKET, key["AccessKeyId"], key["SecretAccessKey"], admin)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
