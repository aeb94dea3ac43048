"""moto's server on 127.0.0.1, with bmsync's tables and nothing else: the local AWS account."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

import boto3
import requests
from moto.server import ThreadedMotoServer

from bmsync import secrets
from bmsync.settings import LOCAL_SANDBOX_HOSTS_ENV
from bmsync.store.dynamo import reset_connections
from bmsync.store.tables import ALL_TABLES, local_table_environment

REGION = "eu-west-1"
ACCOUNT_ID = "123456789012"  # moto's account

# What boto3 reads to reach the local account: a fake identity, a fixed region, moto's endpoint.
_ALSO_CLEARED = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")


class LocalAws:
    """Start moto's server, point this process's boto3 at it, create every table from its definition."""

    def __init__(self, *, port: int = 0, region: str = REGION) -> None:
        self.region = region
        self._requested_port = port
        self._server: ThreadedMotoServer | None = None
        self._saved_environment: dict[str, str | None] = {}
        self.endpoint_url = ""

    def start(self) -> str:
        if self._requested_port:
            _check_port_is_free(self._requested_port)
        # One access-log line per AWS call would drown the runtime's own event log.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=self._requested_port, verbose=False)
        server.start()
        self._server = server
        host, port = server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        self._point_boto3_here()
        # moto keeps its accounts per process: start from an empty one (a test may have run before).
        requests.post(f"{self.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()
        self.create_tables()
        return self.endpoint_url

    def _point_boto3_here(self) -> None:
        wanted = {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "sandbox",
            "AWS_SECRET_ACCESS_KEY": "sandbox",
            "AWS_SESSION_TOKEN": "sandbox",
            "AWS_DEFAULT_REGION": self.region,
            # The table names CDK gives the functions in AWS.
            **local_table_environment(),
            # Only here may a connection use the emulators' http://127.0.0.1 hosts (never set in AWS).
            LOCAL_SANDBOX_HOSTS_ENV: "127.0.0.1,localhost",
        }
        for name in (*wanted, *_ALSO_CLEARED):
            self._saved_environment.setdefault(name, os.environ.get(name))
        for name in _ALSO_CLEARED:
            os.environ.pop(name, None)
        os.environ.update(wanted)
        reset_connections()
        secrets.reset_cache()

    def create_tables(self) -> None:
        client = self.dynamodb()
        for definition in ALL_TABLES:
            client.create_table(**definition.create_table_kwargs())
            if definition.ttl_attribute:
                client.update_time_to_live(
                    TableName=definition.physical_name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": definition.ttl_attribute},
                )

    def dynamodb(self) -> Any:
        return boto3.client("dynamodb", endpoint_url=self.endpoint_url, region_name=self.region)

    def dynamodb_streams(self) -> Any:
        return boto3.client("dynamodbstreams", endpoint_url=self.endpoint_url, region_name=self.region)

    def secrets_manager(self) -> Any:
        return boto3.client("secretsmanager", endpoint_url=self.endpoint_url, region_name=self.region)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environment.clear()
        reset_connections()
        secrets.reset_cache()

    def __enter__(self) -> LocalAws:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _check_port_is_free(port: int) -> None:
    """Fail now, in words, where moto's server would fail in its own thread and never report ready."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server itself binds
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise OSError(error.errno, f"port {port} for the local AWS (moto) is in use") from error
