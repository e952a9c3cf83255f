"""Event Grid events (issue 23, part 4) as an application team receives them: the unmodified Key Vault SDKs change
secrets, keys and certificates, the management API changes an access policy, and a local HTTPS webhook (its
certificate from the installation's own CA) receives every Key Vault event type — parsed by the azure-eventgrid
SDK's models, in the Event Grid schema and as CloudEvents 1.0. Near-expiry and expiry come once the test controls
move the server's clock. An event the webhook refuses for good is dead-lettered, and `strongroom events
dead-letters` lists it."""

import datetime
import http.server
import json
import ssl
import tempfile
import threading
import time

import pytest
import requests
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent, SystemEventNames
from azure.keyvault.certificates import CertificateClient, CertificatePolicy, CertificatePolicyAction, LifetimeAction
from azure.keyvault.keys import KeyClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import CONTOSO, controlled_config, serving, strongroom_cli
from test_secrets_sdk import client_for, credential_for

KEY_VAULT_EVENT_TYPES = {name.value for name in SystemEventNames if name.value.startswith("Microsoft.KeyVault.")}
VAULT = f"/subscriptions/{CONTOSO}/resourceGroups/strongroom/providers/Microsoft.KeyVault/vaults/billing"


class Webhook:
    """An HTTPS webhook on loopback that answers Event Grid's handshakes and keeps what it receives."""

    def __init__(self, data_dir):
        self.received = []  # (path, content type, parsed body)
        self.lock = threading.Lock()
        webhook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_OPTIONS(self):  # the CloudEvents handshake
                self.send_response(200)
                self.send_header("WebHook-Allowed-Origin", self.headers.get("WebHook-Request-Origin", ""))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"null")
                if self.headers.get("aeg-event-type") == "SubscriptionValidation":
                    validation = EventGridEvent.from_dict(body[0])
                    assert validation.event_type == SystemEventNames.EventGridSubscriptionValidationEventName
                    answer = json.dumps({"validationResponse": validation.data["validationCode"]}).encode()
                    status = 200
                else:
                    with webhook.lock:
                        webhook.received.append((self.path, self.headers.get("Content-Type", ""), body))
                    answer, status = b"", (400 if self.path == "/refuse" else 200)
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = tls_context(data_dir).wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path):
        return f"https://127.0.0.1:{self.port}{path}"

    def event_types(self, path):
        with self.lock:
            bodies = [body for (p, _, body) in self.received if p == path]
        if path == "/grid":
            return [EventGridEvent.from_dict(e).event_type for body in bodies for e in body]
        return [CloudEvent.from_dict(body).type for body in bodies]

    def wait_for(self, path, wanted):
        deadline = time.monotonic() + 20
        while not set(wanted) <= set(self.event_types(path)):
            assert time.monotonic() < deadline, f"{set(wanted) - set(self.event_types(path))} never reached {path}"
            time.sleep(0.1)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def tls_context(data_dir):
    """A certificate for 127.0.0.1 issued by the server's local CA (which the server trusts for webhooks)."""
    ca_cert = x509.load_pem_x509_certificate((data_dir / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((data_dir / "ca-key.pem").read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "webhook")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = data_dir / "webhook.pem", data_dir / "webhook-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


@pytest.fixture(scope="module")
def events_server():
    """A server of its own with test controls on (its clock moves) and the admin application as Owner."""
    with tempfile.TemporaryDirectory() as data_dir:
        config = controlled_config(data_dir)
        with serving(data_dir, config) as server:
            webhook = Webhook(server.data_dir)
            try:
                yield server, webhook
            finally:
                webhook.close()


def management(server, method, path, body=None):
    token = credential_for(server, "admin").get_token("https://management.azure.com/.default").token
    response = requests.request(
        method,
        f"https://localhost:{server.port}{path}?api-version=2025-02-15",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        verify=server.ca,
        timeout=30,
    )
    return response.status_code, (response.json() if response.content else None)


def subscribe(server, name, endpoint, schema):
    body = {
        "properties": {
            "destination": {"endpointType": "WebHook", "properties": {"endpointUrl": endpoint}},
            "eventDeliverySchema": schema,
        }
    }
    return management(server, "PUT", f"{VAULT}/providers/Microsoft.EventGrid/eventSubscriptions/{name}", body)


def test_every_key_vault_event_type_reaches_the_webhook_in_both_schemas(events_server):
    server, webhook = events_server
    for name, path, schema in [("grid", "/grid", "EventGridSchema"), ("cloud", "/cloud", "CloudEventSchemaV1_0")]:
        status, body = subscribe(server, name, webhook.url(path), schema)
        assert status == 201, body
        assert body["properties"]["provisioningState"] == "Succeeded"

    vault_url = f"https://billing.vault.localhost:{server.port}"
    credential = credential_for(server, "admin")
    in_ten_days = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=10)
    secret = client_for(server, "admin").set_secret("db-password", "s3cret", expires_on=in_ten_days)
    KeyClient(vault_url, credential, connection_verify=server.ca).create_ec_key("signing", expires_on=in_ten_days)
    # Valid for a month, and not renewed by itself: its expiry event comes.
    policy = CertificatePolicy(
        issuer_name="Self",
        subject="CN=web",
        validity_in_months=1,
        lifetime_actions=[LifetimeAction(CertificatePolicyAction.email_contacts, days_before_expiry=1)],
    )
    certificates = CertificateClient(vault_url, credential, connection_verify=server.ca)
    certificates.begin_create_certificate("web", policy).result()
    entry = {"tenantId": CONTOSO, "objectId": CONTOSO, "permissions": {"secrets": ["get"]}}
    status, body = management(server, "PUT", f"{VAULT}/accessPolicies/add", {"properties": {"accessPolicies": [entry]}})
    assert status == 200, body

    created = {t for t in KEY_VAULT_EVENT_TYPES if t.endswith("NewVersionCreated") or t.endswith("PolicyChanged")}
    webhook.wait_for("/grid", created)
    webhook.wait_for("/cloud", created)
    strongroom_cli(server, "test", "clock", "--advance", "2d")
    webhook.wait_for("/grid", {t for t in KEY_VAULT_EVENT_TYPES if t.endswith("NearExpiry")})
    strongroom_cli(server, "test", "clock", "--advance", "40d")
    webhook.wait_for("/grid", KEY_VAULT_EVENT_TYPES)
    webhook.wait_for("/cloud", KEY_VAULT_EVENT_TYPES)
    assert sorted(webhook.event_types("/grid")) == sorted(KEY_VAULT_EVENT_TYPES), "each event once"

    with webhook.lock:
        grid = [EventGridEvent.from_dict(e) for (p, _, body) in webhook.received if p == "/grid" for e in body]
        cloud = [(t, CloudEvent.from_dict(body)) for (p, t, body) in webhook.received if p == "/cloud"]
    new_secret = next(e for e in grid if e.event_type == SystemEventNames.KeyVaultSecretNewVersionCreatedEventName)
    assert new_secret.topic.endswith("/resourceGroups/strongroom/providers/Microsoft.KeyVault/vaults/billing")
    assert new_secret.subject == "db-password" and new_secret.data_version == "1"
    assert new_secret.data["Id"] == secret.id
    assert new_secret.data["VaultName"] == "billing" and new_secret.data["ObjectType"] == "Secret"
    assert new_secret.data["Version"] == secret.properties.version
    assert new_secret.data["EXP"] == int(in_ten_days.timestamp())
    for content_type, event in cloud:
        assert content_type.startswith("application/cloudevents+json")
        assert event.source == new_secret.topic and event.specversion == "1.0"
    expired = next(e for _, e in cloud if e.type == SystemEventNames.KeyVaultCertificateExpiredEventName)
    assert expired.subject == "web" and expired.data["ObjectType"] == "Certificate"
    strongroom_cli(server, "test", "clock", "--reset")


def test_an_event_the_webhook_refuses_is_dead_lettered_and_listed(events_server):
    server, webhook = events_server
    status, body = subscribe(server, "refusing", webhook.url("/refuse"), "EventGridSchema")
    assert status == 201, body
    client_for(server, "admin").set_secret("refused-secret", "v")
    deadline = time.monotonic() + 20
    while True:
        letters = [json.loads(line) for line in strongroom_cli(server, "events", "dead-letters", "--vault", "billing").splitlines()]
        letters = [letter for letter in letters if letter["eventSubscription"] == "refusing"]
        if letters:
            break
        assert time.monotonic() < deadline, "the refused event was never dead-lettered"
        time.sleep(0.2)
    # 400 Bad Request is an answer Event Grid never retries.
    assert letters[0]["deliveryAttempts"] == 1 and "400" in letters[0]["lastDeliveryOutcome"]
    event = EventGridEvent.from_dict(letters[0]["event"])
    assert event.event_type == SystemEventNames.KeyVaultSecretNewVersionCreatedEventName
    assert event.subject == "refused-secret"
