"""A real S3-protocol server for the tests: moto's server mode on 127.0.0.1, one fresh bucket per test.

The storage tests run against it a second time (the ``storage`` marker, see the root conftest.py), so every stored
file goes through django-storages' S3 backend and boto3 over HTTP exactly as in production.
"""

import itertools

_buckets = itertools.count(1)

# Credentials moto accepts; boto3 reads them from the environment as it would real ones.
TEST_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "keel-test-key",
    "AWS_SECRET_ACCESS_KEY": "keel-test-secret",
    "AWS_EC2_METADATA_DISABLED": "true",  # never ask a cloud metadata service for credentials
}
REGION = "us-east-1"


class S3TestServer:
    def __init__(self):
        self.server = None
        self.endpoint_url = ""

    def start(self):
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not one log line per request

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"

    def stop(self):
        if self.server is not None:
            self.server.stop()

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def new_bucket(self):
        """A fresh, empty bucket: a test sees only its own files."""
        name = f"keel-test-{next(_buckets)}"
        self.client().create_bucket(Bucket=name)
        return name

    def environment(self, bucket):
        """The variables that make Keel (this process and the workers it starts) store in ``bucket``."""
        return {
            **TEST_CREDENTIALS,
            "KEEL_STORAGE_BACKEND": "s3",
            "KEEL_S3_BUCKET": bucket,
            "KEEL_S3_ENDPOINT_URL": self.endpoint_url,
            "KEEL_S3_REGION": REGION,
        }

    @staticmethod
    def storage_setting(environ):
        """``STORAGES["default"]`` as keel/settings.py builds it from ``environ``."""
        from keel.storage import s3_storage_setting

        return s3_storage_setting(environ)
