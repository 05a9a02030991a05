"""deploy/rabbitmq/definitions.json on the local RabbitMQ: least privilege, per user.

The definitions are applied with ``rabbitmqctl import_definitions`` to a fresh vhost,
with every user renamed to a unique test name (never the guest user, never the default
vhost), passwords set by ``deploy/rabbitmq/set-passwords.sh``; all removed afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pika
import pytest
from examples.producers import producer
from pika.exceptions import AMQPConnectionError, ChannelClosedByBroker
from tests.conftest import REPO_ROOT
from tests.faults.harness import port_open, wait_until

from lectern import topology
from lectern.broker import declare_topology
from lectern.message_schemas import FOREIGN_EVENT_TYPE, RESERVED_EVENT_PREFIXES

pytestmark = pytest.mark.integration

DEFINITIONS = REPO_ROOT / "deploy" / "rabbitmq" / "definitions.json"
SET_PASSWORDS = REPO_ROOT / "deploy" / "rabbitmq" / "set-passwords.sh"
ROLES = ("gateway", "indexer", "session-logger", "producer")
ACCESS_REFUSED = 403


@dataclass
class Broker:
    """The applied definitions: a vhost and one user (with its password) per role."""

    vhost: str
    users: dict[str, str]
    passwords: dict[str, str]

    def url(self, role: str, host: str = "127.0.0.1") -> str:
        user, password = self.users[role], self.passwords[role]
        return f"amqp://{user}:{password}@{host}:5672/{quote(self.vhost, safe='')}"

    opened: list[Any] | None = None

    def channel(self, role: str) -> Any:
        """A confirming pika channel as ``role``; closed after the test (``connections``)."""
        channel = producer.connect(self.url(role))
        assert self.opened is not None, "use the `declared` or `connections` fixture"
        self.opened.append(channel.connection)
        return channel


def _ctl(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["rabbitmqctl", "-q", *args], input=stdin, capture_output=True, text=True, check=True
    )
    return done.stdout


def _templated(vhost: str, prefix: str) -> str:
    """The shipped definitions with the vhost and user names replaced."""
    definitions = json.loads(DEFINITIONS.read_text())
    for section in ("vhosts", "permissions", "topic_permissions", "exchanges"):
        for entry in definitions[section]:
            entry["vhost" if section != "vhosts" else "name"] = vhost
    for section in ("users", "permissions", "topic_permissions"):
        for entry in definitions[section]:
            key = "name" if section == "users" else "user"
            entry[key] = prefix + entry[key].removeprefix("lectern-")
    return json.dumps(definitions)


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    suffix = uuid.uuid4().hex[:10]
    vhost, prefix = f"lectern-perm-{suffix}", f"lectern-test-{suffix}-"
    users = {role: prefix + role for role in ROLES}
    passwords = {role: secrets.token_urlsafe(18) for role in ROLES}
    try:
        # From stdin: rabbitmqctl runs as the rabbitmq user, who cannot read tmp_path.
        _ctl("import_definitions", "--format", "json", stdin=_templated(vhost, prefix))
        wait_until(  # the import is asynchronous
            lambda: len(_ctl("list_topic_permissions", "-p", vhost).splitlines()) >= 3,
            timeout=30,
            message="definitions imported",
        )
        env = {
            **os.environ,
            "LECTERN_RABBITMQ_USER_PREFIX": prefix,
            **{f"LECTERN_{r.upper().replace('-', '_')}_PASSWORD": p for r, p in passwords.items()},
        }
        subprocess.run([str(SET_PASSWORDS)], env=env, check=True, capture_output=True)
        yield Broker(vhost=vhost, users=users, passwords=passwords)
    finally:
        for user in users.values():
            subprocess.run(["rabbitmqctl", "-q", "delete_user", user], capture_output=True)
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True)


@pytest.fixture(scope="module")
def topology_declared(broker: Broker) -> Broker:
    """The topology declared by a service user (what each service does at start-up)."""
    asyncio.run(declare_topology(broker.url("gateway")))
    return broker


@pytest.fixture
def connections(broker: Broker) -> Iterator[Broker]:
    """Closes every connection a test opened with :meth:`Broker.channel`."""
    broker.opened = []
    yield broker
    for connection in broker.opened:
        if connection.is_open:
            connection.close()
    broker.opened = None


@pytest.fixture
def declared(topology_declared: Broker, connections: Broker) -> Broker:
    return connections


def _refused(action: Any) -> None:
    with pytest.raises(ChannelClosedByBroker) as refused:
        action()
    assert refused.value.reply_code == ACCESS_REFUSED, refused.value


def test_a_user_without_a_password_cannot_log_in(broker: Broker):
    url = broker.url("producer").replace(broker.passwords["producer"], "")
    with pytest.raises(AMQPConnectionError):
        pika.BlockingConnection(pika.URLParameters(url))


def test_producer_may_publish_commands_and_its_own_events(declared: Broker):
    channel = declared.channel("producer")
    producer.publish_event(channel, producer.make_event("support.ticket.closed", ticket_id="T-1"))
    producer.ingest(channel, "perm/doc.md", "Doc", "# Doc\n\ntext")
    producer.delete(channel, "perm/doc.md")


@pytest.mark.parametrize(
    ("exchange", "routing_key"),
    [
        (topology.DLX_NAME, topology.INDEXER_COMMANDS_QUEUE),  # write on lectern.dlx
        ("", topology.SESSION_LOGGER_EVENTS_QUEUE),  # the default exchange
        (topology.EVENTS_EXCHANGE_NAME, "document.indexed"),  # topic: Lectern's own facts
        (topology.EVENTS_EXCHANGE_NAME, "search.completed"),
        (topology.COMMANDS_EXCHANGE_NAME, "report.generate"),  # topic: not a command
    ],
)
def test_producer_may_not_publish_elsewhere(declared: Broker, exchange: str, routing_key: str):
    channel = declared.channel("producer")
    _refused(lambda: producer.publish(channel, exchange, routing_key, producer.envelope()))


@pytest.mark.parametrize(
    "queue",
    [topology.SESSION_LOGGER_EVENTS_QUEUE, topology.INDEXER_RPC_QUEUE, "indexer.commands.0.dlq"],
)
def test_producer_reads_nothing(declared: Broker, queue: str):
    channel = declared.channel("producer")
    _refused(lambda: channel.basic_get(queue, auto_ack=True))


def test_producer_declares_nothing(declared: Broker):
    channel = declared.channel("producer")
    _refused(lambda: channel.queue_declare("producer.mine", exclusive=True))


@pytest.mark.parametrize("role", ["gateway", "indexer", "session-logger"])
def test_each_service_may_declare_the_topology(connections: Broker, role: str):
    # Declaring a queue with a dead-letter exchange needs configure and read on the
    # queue and write on the exchange (RabbitMQ "Dead Letter Exchanges"): every service
    # declares all of it at start-up, so each may read Lectern's queues.
    asyncio.run(declare_topology(connections.url(role)))
    channel = connections.channel(role)
    assert channel.basic_get(topology.INDEXER_RPC_QUEUE, auto_ack=False) == (None, None, None)


def test_each_service_publishes_where_it_must_and_nowhere_else(declared: Broker):
    event = producer.make_event("document.indexed", document_id="d", version="v", chunk_count=1)
    commands, events = topology.COMMANDS_EXCHANGE_NAME, topology.EVENTS_EXCHANGE_NAME
    gateway = declared.channel("gateway")
    producer.ingest(gateway, "perm/doc.md", "Doc", "# Doc")
    producer.publish(gateway, events, "document.accepted", event)
    indexer = declared.channel("indexer")
    producer.publish(indexer, events, "document.indexed", event)
    producer.publish(indexer, "", "indexer.commands.0.retry.1000ms", event)  # back-off retry
    _refused(lambda: producer.publish(indexer, commands, "document.ingest", event))
    logger = declared.channel("session-logger")
    producer.publish(logger, topology.DLX_NAME, topology.SESSION_LOGGER_EVENTS_QUEUE, event)
    _refused(lambda: producer.publish(logger, events, "document.indexed", event))


def test_the_topic_rule_matches_the_http_rule():
    """The producer's topic permission on lectern.events says what POST /v1/events says."""
    definitions = json.loads(DEFINITIONS.read_text())
    (rule,) = [
        p["write"]
        for p in definitions["topic_permissions"]
        if p["exchange"] == topology.EVENTS_EXCHANGE_NAME
    ]
    assert rule == (
        "^(?!("
        + "|".join(p.rstrip(".") for p in RESERVED_EVENT_PREFIXES)
        + r")\.)"
        + FOREIGN_EVENT_TYPE.pattern.removeprefix("^")
    )


def _external_address() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # no packet is sent (UDP connect)
            address: str = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


def test_guest_is_refused_outside_loopback(broker: Broker):
    address = _external_address()
    if address is None or not port_open(5672, host=address):
        pytest.skip("RabbitMQ listens on loopback only here: nobody logs in from elsewhere")
    guest = f"amqp://guest:guest@{address}:5672/%2F"
    with pytest.raises(AMQPConnectionError):
        pika.BlockingConnection(pika.URLParameters(guest))
    # The same address accepts a user with a password: the refusal is about guest.
    pika.BlockingConnection(pika.URLParameters(broker.url("producer", host=address))).close()
