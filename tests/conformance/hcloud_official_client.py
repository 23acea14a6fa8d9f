"""Conformance of k3strading-cloud with Hetzner's official Python client.

Runs the project's Hetzner flow with `hcloud` (PyPI) against the local cloud
and checks Hetzner's rules along the way. Needs EMULATOR_URL (the /v1 base)
and EMULATOR_TOKEN. Exits non-zero on the first failed check.
"""

import json
import os
import sys
import urllib.request

from hcloud import APIException, Client
from hcloud.firewalls import FirewallResource, FirewallResourceLabelSelector, FirewallRule
from hcloud.images import Image
from hcloud.locations import Location
from hcloud.networks import NetworkSubnet
from hcloud.server_types import ServerType
from hcloud.servers import ServerCreatePublicNetwork

URL = os.environ["EMULATOR_URL"]
client = Client(token=os.environ["EMULATOR_TOKEN"], api_endpoint=URL, poll_interval=0.02)
checks = 0


def ok(what):
    global checks
    checks += 1
    print(f"ok: {what}")


def expect_api_error(code, fn):
    try:
        fn()
    except APIException as e:
        assert e.code == code, f"expected {code}, got {e.code}: {e.message}"
        assert e.correlation_id, "error without X-Correlation-Id"
        return e
    raise AssertionError(f"expected {code}, call succeeded")


labels = {"k3strading.io/cluster": "conformance", "k3strading.io/role": "control-plane"}

network = client.networks.create(
    name="conformance-net",
    ip_range="10.0.0.0/16",
    subnets=[NetworkSubnet(ip_range="10.0.1.0/24", type=NetworkSubnet.TYPE_CLOUD, network_zone="eu-central")],
    labels={"k3strading.io/cluster": "conformance"},
)
assert network.subnets[0].gateway == "10.0.0.1", network.subnets[0].gateway
ok("network with a cloud subnet")

key = client.ssh_keys.create(
    name="conformance-key",
    public_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq3bHHp0gBDpX6n7OJ0zNQbRCpVqk0bm3I+z0fQZ2Pv conformance",
    labels={"k3strading.io/cluster": "conformance"},
)
assert key.fingerprint.count(":") == 15, key.fingerprint
ok("ssh key with an MD5 fingerprint")

fw = client.firewalls.create(
    name="conformance-fw",
    rules=[FirewallRule(direction=FirewallRule.DIRECTION_IN, protocol=FirewallRule.PROTOCOL_TCP, port="22", source_ips=["0.0.0.0/0"])],
    resources=[
        FirewallResource(
            type=FirewallResource.TYPE_LABEL_SELECTOR,
            label_selector=FirewallResourceLabelSelector(selector="k3strading.io/cluster=conformance"),
        )
    ],
).firewall
assert fw.rules[0].destination_ips == [] and fw.rules[0].description is None
ok("firewall applied by label selector, rules completed")

pg = client.placement_groups.create(name="conformance-pg", type="spread").placement_group
ok("spread placement group")

ip = client.primary_ips.create(type="ipv4", name="conformance-ip-1", location=Location(name="fsn1"), auto_delete=False).primary_ip
client.primary_ips.change_protection(ip, delete=True).wait_until_finished()
ip = client.primary_ips.get_by_id(ip.id)
assert ip.protection["delete"] is True and ip.auto_delete is False and ip.assignee_id is None
ok("protected Primary IP, unassigned")

expect_api_error(
    "uniqueness_error",
    lambda: client.primary_ips.create(type="ipv4", name="conformance-ip-1", location=Location(name="fsn1")),
)
ok("duplicate Primary IP name -> uniqueness_error")

created = client.servers.create(
    name="conformance-control",
    server_type=ServerType(name="cpx22"),
    image=Image(name="ubuntu-24.04"),
    location=Location(name="fsn1"),
    ssh_keys=[key],
    placement_group=pg,
    labels=labels,
    public_net=ServerCreatePublicNetwork(ipv4=ip, enable_ipv6=False),
    start_after_create=False,
)
created.action.wait_until_finished()
server = client.servers.get_by_id(created.server.id)
assert server.status == "off", server.status
assert server.public_net.primary_ipv4.id == ip.id and server.public_net.primary_ipv6 is None
ok("server created off with the Primary IP and no IPv6")

client.servers.attach_to_network(server, network, ip="10.0.1.10").wait_until_finished()
server = client.servers.get_by_id(server.id)
assert server.private_net[0].ip == "10.0.1.10", server.private_net
assert server.public_net.firewalls[0].firewall.id == fw.id
ok("fixed private IP 10.0.1.10 attached; firewall reaches the server through its labels")

expect_api_error("ip_not_available", lambda: client.servers.create(
    name="conformance-other",
    server_type=ServerType(name="cpx22"),
    image=Image(name="ubuntu-24.04"),
    location=Location(name="fsn1"),
    start_after_create=False,
    public_net=ServerCreatePublicNetwork(enable_ipv4=False, enable_ipv6=False),
).action.wait_until_finished() or client.servers.attach_to_network(
    client.servers.get_by_name("conformance-other"), network, ip="10.0.1.10"
))
ok("second server on the same private IP -> ip_not_available")

client.servers.power_on(server).wait_until_finished()
assert client.servers.get_by_id(server.id).status == "running"
expect_api_error("server_not_stopped", lambda: client.primary_ips.unassign(ip))
ok("unassign from a running server -> server_not_stopped")

listed = client.servers.get_all(label_selector="k3strading.io/cluster=conformance,k3strading.io/role in (control-plane)")
assert [s.name for s in listed] == ["conformance-control"], [s.name for s in listed]
assert client.servers.get_all(label_selector="!k3strading.io/cluster") == [client.servers.get_by_name("conformance-other")]
ok("list by label selector")

expect_api_error("uniqueness_error", lambda: client.servers.create(
    name="conformance-control", server_type=ServerType(name="cpx22"), image=Image(name="ubuntu-24.04")))
ok("duplicate server name -> uniqueness_error")

expect_api_error("resource_unavailable", lambda: client.servers.create(
    name="conformance-old", server_type=ServerType(name="cpx21"), image=Image(name="ubuntu-24.04"), location=Location(name="fsn1")))
ok("deprecated cpx21 in fsn1 -> resource_unavailable")

client.servers.delete(server).wait_until_finished()
ip = client.primary_ips.get_by_id(ip.id)
assert ip.assignee_id is None and ip.protection["delete"] is True, (ip.assignee_id, ip.protection)
ok("server deleted: Primary IP survives, unassigned and protected")

expect_api_error("protected", lambda: client.primary_ips.delete(ip))
ok("deleting the protected Primary IP -> protected")

admin = urllib.request.Request(
    URL.removesuffix("/v1") + "/_emulator/spec-violations",
    headers={"Authorization": "Bearer " + os.environ["EMULATOR_TOKEN"]},
)
with urllib.request.urlopen(admin) as r:
    report = json.load(r)
if report["checking"]:
    assert report["violations"] == [], json.dumps(report["violations"], indent=1)
    ok("every response matched the official OpenAPI document")
else:
    print("note: the emulator ran without --spec; responses were not checked against the OpenAPI document")

print(f"{checks} passed, 0 failed")
