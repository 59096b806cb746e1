"""The Kubernetes manifests (deploy/k8s): the example overlay, built as kustomize builds it, is valid
against the Kubernetes schemas (strict: an unknown field fails), and says what DESIGN asks of a
deployment: every process, several replicas of each, both probes naming commands and routes that exist,
resources, a non-root read-only container, secrets by reference only, and each process holding only its
own signing key and its own Secret.

The build is done here in Python (resources, namespace, images: all the kustomization files use) so the
test needs no kustomize binary; where `kubectl` is installed its own build must give the same documents.
"""
from __future__ import annotations

import copy
import importlib.util
import os
import re
import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml

from services.common import keys, probe
from services.gateway.routes import health

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K8S = os.path.join(ROOT, "deploy", "k8s")
OVERLAY = os.path.join(K8S, "overlays", "example")
# The oldest Kubernetes minor release the manifests are held to (still supported by the managed clouds).
KUBERNETES_VERSION = "1.32.0"
CLUSTER_SCOPED = {"Namespace"}
# Variables whose value is a secret, or that decide whom a process trusts: by reference only.
SECRET_NAME = re.compile(r"(^|_)(KEYS?|PASSWORD|SECRET|TOKEN|URI)(_|$)|DATABASE_URL$")
SIGNING_KEY = re.compile(r"HAVEN_(\w+)_SIGNING_KEY")
SHARED_SECRETS = {"haven-public-keys", "haven-smtp"}


def kustomize(folder: str) -> list[dict]:
    """`kustomize build` for what these kustomization files use, refusing anything else."""
    with open(os.path.join(folder, "kustomization.yaml")) as f:
        kustomization = yaml.safe_load(f)
    unknown = set(kustomization) - {"apiVersion", "kind", "resources", "namespace", "images"}
    assert not unknown, f"{folder}: this test's build does not do {sorted(unknown)}"
    documents = []
    for entry in kustomization["resources"]:
        path = os.path.normpath(os.path.join(folder, entry))
        if os.path.isdir(path):
            documents += kustomize(path)
        else:
            with open(path) as f:
                documents += [d for d in yaml.safe_load_all(f) if d]
    for document in documents:
        if "namespace" in kustomization and document["kind"] not in CLUSTER_SCOPED:
            document["metadata"]["namespace"] = kustomization["namespace"]
        for image in kustomization.get("images", []):
            for container in containers(document):
                if container["image"].split(":")[0] == image["name"]:
                    container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"
    return documents


def pod_spec(document: dict) -> dict | None:
    if document["kind"] in ("Deployment", "Job"):
        return document["spec"]["template"]["spec"]
    return None


def containers(document: dict) -> list[dict]:
    spec = pod_spec(document)
    return spec["containers"] if spec else []


@pytest.fixture(scope="module")
def built() -> list[dict]:
    return kustomize(OVERLAY)


def named(built, kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in built if d["kind"] == kind}


def test_every_document_is_valid_against_the_kubernetes_schemas_strictly(built):
    for document in built:
        kubernetes_validate.validate(copy.deepcopy(document), KUBERNETES_VERSION, strict=True)


def test_kubectl_builds_the_same_documents_where_it_is_installed(built):
    kubectl = shutil.which("kubectl")
    if kubectl is None:  # the build above is then the only one: nothing more to compare it with
        return
    out = subprocess.run([kubectl, "kustomize", OVERLAY], capture_output=True, text=True, timeout=120,
                         check=True)
    key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
    assert sorted(yaml.safe_load_all(out.stdout), key=key) == sorted(built, key=key)


def test_every_process_runs_as_several_replicas_with_a_disruption_budget(built):
    deployments, budgets = named(built, "Deployment"), named(built, "PodDisruptionBudget")
    assert set(deployments) == {f"haven-{owner}" for owner in keys.OWNERS}
    for name, deployment in deployments.items():
        assert deployment["spec"]["replicas"] >= 2, name
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        budget = budgets[name]["spec"]
        assert budget["selector"]["matchLabels"].items() <= labels.items()
        assert budget["minAvailable"] < deployment["spec"]["replicas"], f"{name}: no drain could evict one"


def test_each_process_runs_its_own_module_with_both_probes_on_what_exists(built):
    routes = {route.path for route in health.router.routes}
    for name, deployment in named(built, "Deployment").items():
        owner = name.removeprefix("haven-")
        (container,) = containers(deployment)
        assert container["command"] == ["python", "-m", f"services.{owner}"]
        assert importlib.util.find_spec(f"services.{owner}.__main__"), name
        live, ready = container["livenessProbe"], container["readinessProbe"]
        if owner == "gateway":
            ports = {p["name"] for p in container["ports"]}
            for check in (live, ready, container["startupProbe"]):
                assert check["httpGet"]["path"] in routes and check["httpGet"]["port"] in ports
            assert live["httpGet"]["path"] != ready["httpGet"]["path"]
            continue
        for check, readiness in ((live, False), (ready, True)):
            command = check["exec"]["command"]
            assert command[:3] == ["python", "-m", "services.common.probe"], name
            args = probe.arguments().parse_args(command[3:])
            assert (args.service, args.ready) == (owner, readiness), name
            assert check["timeoutSeconds"] > probe.DEADLINE_SECONDS, f"{name}: killed before it can say why"


def test_every_container_has_resources_and_runs_non_root_read_only_with_no_capabilities(built):
    with open(os.path.join(ROOT, "deploy", "Dockerfile")) as f:
        image_user = re.search(r"^USER (\d+):(\d+)$", f.read(), re.M)
    assert image_user, "the image names its user by number (runAsNonRoot checks it)"
    for document in built:
        spec = pod_spec(document)
        if spec is None:
            continue
        name = document["metadata"]["name"]
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["seccompProfile"]["type"] == "RuntimeDefault", name
        assert (str(pod["runAsUser"]), str(pod["runAsGroup"])) == image_user.groups(), name
        assert spec["automountServiceAccountToken"] is False, name
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in spec["containers"]:
            for need in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][need]), f"{name}: {need}"
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False and context["capabilities"]["drop"] == ["ALL"]
            assert context["readOnlyRootFilesystem"] is True, name
            tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert tmp and "emptyDir" in volumes[tmp[0]["name"]], f"{name}: nowhere to write"


def secret_refs(container: dict) -> set[tuple[str, str]]:
    return {(e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
            for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})}


def test_no_secret_value_is_written_in_the_manifests(built):
    assert not [d for d in built if d["kind"] == "Secret"], "Secrets are made outside git (overlay README)"
    for config in named(built, "ConfigMap").values():
        assert not [k for k in config["data"] if SECRET_NAME.search(k)], config["metadata"]["name"]
    for document in built:
        for container in containers(document):
            assert not [e for e in container.get("envFrom", []) if "secretRef" in e], "each variable by name"
            for variable in container.get("env", []):
                if SECRET_NAME.search(variable["name"]):
                    assert "secretKeyRef" in variable.get("valueFrom", {}), variable["name"]


def test_each_process_reads_only_its_own_signing_key_and_its_own_secret(built):
    readers: dict[str, set[str]] = {}
    for name, deployment in named(built, "Deployment").items():
        owner = name.removeprefix("haven-")
        (container,) = containers(deployment)
        env = {e["name"] for e in container["env"]}
        assert {m[1].lower() for v in env if (m := SIGNING_KEY.fullmatch(v))} == {owner}, name
        assert {"HAVEN_PUBLIC_KEYS", "HAVEN_AMQP_URI", f"HAVEN_{owner.upper()}_DATABASE_URL"} <= env, name
        for secret, _key in secret_refs(container):
            readers.setdefault(secret, set()).add(owner)
    for secret, owners in readers.items():
        if secret not in SHARED_SECRETS:
            assert owners == {secret.removeprefix("haven-")}, f"{secret} is read by {sorted(owners)}"
    (job,) = named(built, "Job").values()
    assert not [e for e in containers(job)[0]["env"] if SIGNING_KEY.fullmatch(e["name"])]


def test_the_overlay_documents_every_secret_and_key_the_manifests_read(built):
    with open(os.path.join(OVERLAY, "README.md")) as f:
        rows = [line for line in f if line.startswith("| `haven-")]
    documented = {}
    for row in rows:
        cells = row.split("|")
        names = re.findall(r"`([^`]+)`", cells[1]) + [None]
        documented[names[0]] = set(re.findall(r"`([^`]+)`", cells[2]))
    read: dict[str, set[str]] = {}
    for document in built:
        for container in containers(document):
            for secret, key in secret_refs(container):
                read.setdefault(secret, set()).add(key)
    assert documented == read


def test_the_broker_setup_job_runs_the_command_that_exists_with_what_it_reads(built):
    (job,) = named(built, "Job").values()
    (container,) = containers(job)
    assert container["command"][:4] == ["python", "-m", "deploy.rabbitmq", "apply"]
    assert importlib.util.find_spec("deploy.rabbitmq")
    env = {e["name"] for e in container["env"]}
    assert {f"{owner.upper()}_BROKER_PASSWORD" for owner in keys.OWNERS} <= env
    configs = named(built, "ConfigMap")
    for source in container.get("envFrom", []):
        env |= set(configs[source["configMapRef"]["name"]]["data"])
    assert set(re.findall(r"\$\((\w+)\)", " ".join(container["command"]))) <= env


def test_the_gateway_service_reaches_the_gateway_pods_on_their_port(built):
    service = named(built, "Service")["haven-gateway"]["spec"]
    gateway = named(built, "Deployment")["haven-gateway"]["spec"]["template"]
    assert service["selector"].items() <= gateway["metadata"]["labels"].items()
    ports = {p["name"] for p in gateway["spec"]["containers"][0]["ports"]}
    assert {p["targetPort"] for p in service["ports"]} <= ports


def test_compose_asks_the_same_probes(built):
    with open(os.path.join(ROOT, "docker-compose.yml")) as f:
        compose = yaml.safe_load(f)["services"]
    for name, deployment in named(built, "Deployment").items():
        owner = name.removeprefix("haven-")
        check = compose[owner]["healthcheck"]["test"]
        (container,) = containers(deployment)
        ready = container["readinessProbe"]
        if "exec" in ready:
            assert check[1:] == ready["exec"]["command"], owner
        else:
            assert ready["httpGet"]["path"] in " ".join(check), owner


def test_every_process_serves_metrics_to_prometheus_on_a_port_no_service_exposes(built):
    services = named(built, "Service").values()
    exposed = {str(p["targetPort"]) for s in services for p in s["spec"]["ports"]}
    for name, deployment in named(built, "Deployment").items():
        template = deployment["spec"]["template"]
        (container,) = containers(deployment)
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        metrics_port = next(p for p in container["ports"] if p["name"] == "metrics")["containerPort"]
        assert env["HAVEN_METRICS_ADDRESS"].rpartition(":")[2] == str(metrics_port), name
        annotations = template["metadata"]["annotations"]
        assert (annotations["prometheus.io/scrape"], annotations["prometheus.io/port"],
                annotations["prometheus.io/path"]) == ("true", str(metrics_port), "/metrics"), name
        assert not {"metrics", str(metrics_port)} & exposed, f"{name}: its metrics are reachable through a Service"
