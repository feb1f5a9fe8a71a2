"""deploy/k8s cannot drift from the code: schemas, the kustomization, commands, env names, ports, budgets."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from pipeline import config, heartbeat
from pipeline.config import BASE_DIR
from tests.support.processes import procfile_commands

K8S_DIR = BASE_DIR / "deploy" / "k8s"
SCHEMAS = Path(__file__).parent / "schemas"
#: The Kubernetes version the manifests are validated against (a schema set kubernetes-validate ships).
KUBERNETES_VERSION = "1.30"
KEDA_SCHEMAS = {"ScaledObject": "keda-scaledobject.json", "TriggerAuthentication": "keda-triggerauthentication.json"}

#: Which Procfile line each workload runs.
PROCFILE_PROCESS = {
    "web": "web",
    "worker-default": "worker",
    "worker-render": "worker",
    "scheduler": "scheduler",
    "migrate": "release",
}
#: Deliberate variants of a Procfile line: (the Procfile's argument, what the manifest runs instead).
VARIANTS = {
    "worker-default": (["--queues", "default", "render"], ["--queues", "default"]),
    "worker-render": (["--queues", "default", "render"], ["--queues", "render"]),
}

#: Idle RSS measured by the lead (MB), unless bench/results.json brings newer figures.
MEASURED_IDLE_MB = {"web": 26 + 2 * 43, "worker-master": 26, "worker-process": 50, "scheduler": 34}
#: Peak RSS of one `python -m pipeline.heartbeat` exec probe (measured: 31 MB), counted in the pod's cgroup.
PROBE_MB = 32
#: Peak RSS of `manage.py await_migrations` over a current schema (measured: 77 MB): Django and the migration graph.
AWAIT_MIGRATIONS_MB = 77
#: Exec probes that may run at once in a worker or scheduler pod: liveness and readiness.
PROBES_AT_ONCE = 2
#: Room for the message that carries a worker process past WORKER_MAX_RSS_MB (it is checked after each one).
OVERSHOOT_MB = 32


def _documents() -> list[tuple[str, dict]]:
    docs = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


DOCS = _documents()
CONFIGMAP = next(doc for _, doc in DOCS if doc["kind"] == "ConfigMap")
SECRET = next(doc for _, doc in DOCS if doc["kind"] == "Secret")
WORKLOADS = {doc["metadata"]["name"]: doc for _, doc in DOCS if doc["kind"] in ("Deployment", "Job")}


def _id(item) -> str:
    return f"{item[0]}:{item[1]['kind']}/{item[1]['metadata']['name']}"


def _pod(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def _container(workload: dict) -> dict:
    containers = _pod(workload)["containers"]
    assert len(containers) == 1, "one process per pod"
    return containers[0]


def _env(container: dict) -> dict[str, str]:
    """The container's environment as the process sees it: the ConfigMap, then its own env."""
    env = {}
    for source in container.get("envFrom", []):
        assert source["configMapRef"]["name"] == CONFIGMAP["metadata"]["name"]
        env.update(CONFIGMAP["data"])
    for var in container.get("env", []):
        env[var["name"]] = var.get("value", f"<from {var.get('valueFrom')}>")
    return env


def _mib(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "M": 1e6 / 2**20, "G": 1e9 / 2**20}
    number, unit = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", quantity).groups()
    return float(number) * units.get(unit, 1 / 2**20)


def _idle_figures() -> tuple[dict, str]:
    """Idle RSS from bench/results.json when `make bench` wrote one, else the lead's measurements."""
    results = BASE_DIR / "bench" / "results.json"
    if results.exists():
        rows = json.loads(results.read_text()).get("idle", {}).get("processes", {})
        mb = {name: row["rss_mb"] for name, row in rows.items()}
        web_children = [v for k, v in mb.items() if k.startswith("web child")]
        worker_children = [v for k, v in mb.items() if k.startswith("worker child")]
        if {"web master", "worker master", "scheduler process"} <= set(mb) and web_children and worker_children:
            return {
                "web": mb["web master"] + sum(web_children),
                "worker-master": mb["worker master"],
                "worker-process": max(worker_children),
                "scheduler": mb["scheduler process"],
            }, "bench/results.json"
    return MEASURED_IDLE_MB, "measured by the lead"


# --- schemas -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("item", [d for d in DOCS if d[1]["kind"] not in KEDA_SCHEMAS], ids=_id)
def test_kubernetes_objects_validate_strictly(item):
    _, doc = item
    target = ".".join(KUBERNETES_VERSION.split(".")[:2])
    assert kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True) == target, "not an older schema"


@pytest.mark.parametrize("item", [d for d in DOCS if d[1]["kind"] in KEDA_SCHEMAS], ids=_id)
def test_keda_objects_validate_against_their_crd_schema(item):
    _, doc = item
    schema = json.loads((SCHEMAS / KEDA_SCHEMAS[doc["kind"]]).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert [error.message for error in jsonschema.Draft202012Validator(schema).iter_errors(doc)] == []


@pytest.mark.parametrize(
    "mistake",
    [
        lambda so: so["spec"].update(minReplicas=1),  # the HPA's name, not KEDA's
        lambda so: so["spec"]["triggers"][0]["metadata"].update(listname="dramatiq:default"),
        lambda so: so["spec"]["triggers"][0]["metadata"].update(listLength=10),  # metadata values are strings
        lambda so: so["spec"]["triggers"][0]["metadata"].pop("listName"),
    ],
)
def test_the_keda_schema_catches_typical_mistakes(mistake):
    schema = json.loads((SCHEMAS / KEDA_SCHEMAS["ScaledObject"]).read_text())
    scaled = json.loads(json.dumps(next(d for _, d in DOCS if d["kind"] == "ScaledObject")))
    mistake(scaled)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, schema, cls=jsonschema.Draft202012Validator)


def test_the_strict_kubernetes_schema_catches_a_misplaced_field():
    deployment = json.loads(json.dumps(WORKLOADS["web"]))
    _container(deployment)["livenessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_lists_every_manifest_and_nothing_else():
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    files = {p.name for p in K8S_DIR.glob("*.y*ml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files), "every manifest but the example Secret"
    assert [image["name"] for image in kustomization["images"]] == ["invoice-mail"]


# --- the Procfile and the code ------------------------------------------------------------------------


def _expand_procfile(line: str, env: dict[str, str]) -> list[str]:
    """The Procfile line as bash runs it: ${NAME:-default} expanded from `env`, then split into words."""

    def value(match: re.Match) -> str:
        return env.get(match["name"]) or match["default"]

    return shlex.split(re.sub(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*):-(?P<default>[^}]*)\}", value, line))


def _expand_kubernetes(argv: list[str], container: dict) -> list[str]:
    """The container's command as the kubelet runs it: $(NAME) from the container's own env."""
    own = {var["name"]: var["value"] for var in container.get("env", []) if "value" in var}

    def value(match: re.Match) -> str:
        assert match[1] in own, f"$({match[1]}) is expanded only from the container's env with a value"
        return own[match[1]]

    return [re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", value, arg) for arg in argv]


@pytest.mark.parametrize("name", sorted(PROCFILE_PROCESS))
def test_every_command_is_its_procfile_line(name):
    container = _container(WORKLOADS[name])
    assert "args" not in container
    expected = _expand_procfile(procfile_commands()[PROCFILE_PROCESS[name]], _env(container))
    if name in VARIANTS:
        procfile_part, variant = VARIANTS[name]
        start = next(i for i in range(len(expected)) if expected[i : i + len(procfile_part)] == procfile_part)
        expected[start : start + len(procfile_part)] = variant
    assert _expand_kubernetes(container["command"], container) == expected


def test_every_workload_is_a_procfile_process():
    assert set(WORKLOADS) == set(PROCFILE_PROCESS)
    assert set(PROCFILE_PROCESS.values()) == set(procfile_commands())


def _names_read_by_the_code() -> set[str]:
    # pipeline/config.py declares every variable (tests/unit/test_config.py checks that it does).
    return set(config.SETTINGS) | set(config.LIBRARY_VARIABLES)


def test_every_environment_variable_set_is_one_the_code_reads():
    read = _names_read_by_the_code()
    assert {"DATABASE_URL", "REDIS_URL", "WORKER_MAX_RSS_MB", "WEB_CONCURRENCY"} <= read  # sanity
    assert set(CONFIGMAP["data"]) <= read, set(CONFIGMAP["data"]) - read
    for name, workload in WORKLOADS.items():
        set_here = {var["name"] for var in _container(workload).get("env", [])}
        assert set_here <= read, f"{name} sets {set_here - read}, which nothing reads"


def test_secret_and_configmap_references_resolve():
    secret_keys = set(SECRET["stringData"])
    assert all("CHANGE-ME" in value or ":" in value for value in SECRET["stringData"].values())
    for name, workload in WORKLOADS.items():
        for container in [*_pod(workload).get("initContainers", []), _container(workload)]:
            for var in container.get("env", []):
                if "valueFrom" in var:
                    ref = var["valueFrom"]["secretKeyRef"]
                    assert ref["name"] == SECRET["metadata"]["name"], (name, ref)
                    assert ref["key"] in secret_keys or ref.get("optional") is True, (name, ref)
                    assert ref["key"] == var["name"], "a secret key carries the name of the variable it fills"
    for _, auth in [d for d in DOCS if d[1]["kind"] == "TriggerAuthentication"]:
        for ref in auth["spec"]["secretTargetRef"]:
            assert ref["name"] == SECRET["metadata"]["name"] and ref["key"] in secret_keys


def test_keda_reaches_redis_by_its_full_service_name():
    """KEDA's operator resolves the address in its own namespace: a short `redis` would be another, or none."""
    host, _, port = SECRET["stringData"]["redis-address"].rpartition(":")
    namespace = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())["namespace"]
    assert host == f"redis.{namespace}.svc.cluster.local" and port == "6379"
    redis_host = re.search(r"@([^:/]+):", SECRET["stringData"]["REDIS_URL"])[1]
    assert host.split(".")[0] == redis_host, "the same Redis service as REDIS_URL"


def test_the_processes_that_use_graph_get_its_credentials_optionally():
    graph = ["GRAPH_TENANT_ID", "GRAPH_CLIENT_ID", "GRAPH_CLIENT_SECRET"]
    # worker-default fetches and saves mail; web runs the admin's connection test (mailbox_checks.py).
    for name in ("worker-default", "web"):
        env = {var["name"]: var for var in _container(WORKLOADS[name])["env"]}
        for key in graph:
            ref = env[key]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": SECRET["metadata"]["name"], "key": key, "optional": True}, (name, key)
    for name in ("worker-render", "scheduler", "migrate"):
        assert not set(graph) & {var["name"] for var in _container(WORKLOADS[name])["env"]}, name


@pytest.mark.parametrize("name", ["web", "worker-default", "worker-render", "scheduler"])
def test_every_deployment_waits_for_the_migrations_of_its_image(name):
    """`kubectl apply -k` starts the Deployments beside the migrate Job: an init container holds each back."""
    workload = WORKLOADS[name]
    (init,) = _pod(workload)["initContainers"]
    assert init["image"] == _container(workload)["image"] == "invoice-mail"
    assert init["command"][:3] == ["python", "manage.py", "await_migrations"]
    assert "--timeout" in init["command"]
    assert (BASE_DIR / "webapp/inbox/management/commands/await_migrations.py").exists()
    env = _env(init)
    assert env["DATABASE_URL"].startswith("<from") and env["SECRET_KEY"].startswith("<from")
    assert init["securityContext"] == _container(WORKLOADS["migrate"])["securityContext"]
    mounts = {m["mountPath"] for m in init["volumeMounts"]}
    assert {"/tmp", CONFIGMAP["data"]["STATE_DIR"]} <= mounts, "Django writes nothing elsewhere"
    assert _mib(init["resources"]["limits"]["memory"]) > AWAIT_MIGRATIONS_MB * 1.5
    assert "initContainers" not in _pod(WORKLOADS["migrate"])


def test_the_state_folder_and_tmp_are_writable_in_every_pod():
    state_dir = CONFIGMAP["data"]["STATE_DIR"]
    assert state_dir == re.search(r"STATE_DIR=(\S+)", (BASE_DIR / "Dockerfile").read_text())[1]
    for name, workload in WORKLOADS.items():
        volumes = {v["name"]: v for v in _pod(workload)["volumes"]}
        mounts = {m["mountPath"]: volumes[m["name"]] for m in _container(workload)["volumeMounts"]}
        assert "emptyDir" in mounts["/tmp"] and "emptyDir" in mounts[state_dir], name
        assert all(v.get("emptyDir", {}).get("medium") != "Memory" for v in volumes.values()), (
            "a memory-backed emptyDir counts against the memory limit"
        )


def test_every_process_that_stores_or_serves_files_shares_the_media_volume():
    for name in ("web", "worker-default", "worker-render"):
        volumes = {v["name"]: v for v in _pod(WORKLOADS[name])["volumes"]}
        media = next(m for m in _container(WORKLOADS[name])["volumeMounts"] if m["mountPath"].endswith("/media"))
        assert media["mountPath"] == CONFIGMAP["data"]["STATE_DIR"] + "/media"
        assert volumes[media["name"]]["persistentVolumeClaim"]["claimName"] == "invoicemail-media"
    pvc = next(d for _, d in DOCS if d["kind"] == "PersistentVolumeClaim")
    assert pvc["metadata"]["name"] == "invoicemail-media" and pvc["spec"]["accessModes"] == ["ReadWriteMany"]


def test_same_image_non_root_and_read_only_everywhere():
    uid = int(re.search(r"--uid (\d+)", (BASE_DIR / "Dockerfile").read_text())[1])
    for name, workload in WORKLOADS.items():
        pod, container = _pod(workload), _container(workload)
        assert container["image"] == "invoice-mail", name
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == uid
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }
        assert pod["automountServiceAccountToken"] is False


# --- ports and probes ---------------------------------------------------------------------------------


def test_web_port_probes_and_service_agree_with_the_settings_and_urls():
    from django.urls import resolve

    container = _container(WORKLOADS["web"])
    env = _env(container)
    (port,) = container["ports"]
    assert port["containerPort"] == int(env["PORT"]) and port["name"] == "http"
    allowed_hosts = env["ALLOWED_HOSTS"].split(",")
    paths = {}
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        probe = container[kind]["httpGet"]
        assert probe["port"] == "http"
        host = {h["name"]: h["value"] for h in probe["httpHeaders"]}["Host"]
        assert host in allowed_hosts, "Django answers 400 to a Host it does not allow"
        paths[kind] = probe["path"]
        resolve(probe["path"])  # a real URL of the project
    assert paths == {"startupProbe": "/health/live", "livenessProbe": "/health/live", "readinessProbe": "/health/"}
    service = next(d for _, d in DOCS if d["kind"] == "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert service["spec"]["selector"] == WORKLOADS["web"]["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize(
    ("name", "role"), [("worker-default", "worker"), ("worker-render", "worker"), ("scheduler", "scheduler")]
)
def test_worker_and_scheduler_liveness_is_their_heartbeat(name, role):
    container = _container(WORKLOADS[name])
    # Liveness (and startup): the process lives, from its heartbeat file; a Redis outage restarts nothing.
    for kind in ("startupProbe", "livenessProbe"):
        assert container[kind]["exec"]["command"] == ["python", "-m", "pipeline.heartbeat", role, "--live"]
        assert container[kind]["timeoutSeconds"] >= 5
    # Readiness: its heartbeat reached Redis.
    assert container["readinessProbe"]["exec"]["command"] == ["python", "-m", "pipeline.heartbeat", role]
    assert container["readinessProbe"]["timeoutSeconds"] >= 5
    liveness = container["livenessProbe"]
    # A restart only after more than the heartbeat's own tolerance.
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= heartbeat.DEFAULT_MAX_AGE_SECONDS[role]
    assert "ports" not in container


def test_selectors_match_their_pods():
    for name, workload in WORKLOADS.items():
        if workload["kind"] == "Deployment":
            labels = workload["spec"]["template"]["metadata"]["labels"]
            assert workload["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
    pdb = next(d for _, d in DOCS if d["kind"] == "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"] == WORKLOADS["web"]["spec"]["selector"]["matchLabels"]
    assert pdb["spec"]["minAvailable"] < WORKLOADS["web"]["spec"]["replicas"], "a drain must be able to proceed"


# --- budgets and stopping -----------------------------------------------------------------------------


def test_requests_cover_the_measured_idle_memory():
    idle, source = _idle_figures()
    expected = {
        "web": idle["web"],
        "worker-default": idle["worker-master"] + idle["worker-process"],
        "worker-render": idle["worker-master"] + idle["worker-process"],
        "scheduler": idle["scheduler"],
    }
    for name, idle_mb in expected.items():
        resources = _container(WORKLOADS[name])["resources"]
        request, limit = _mib(resources["requests"]["memory"]), _mib(resources["limits"]["memory"])
        assert idle_mb * 1.0 <= request * 1.05 and request < limit, (name, idle_mb, source)
        assert idle_mb + PROBES_AT_ONCE * PROBE_MB < limit, (name, source)


@pytest.mark.parametrize("name", ["worker-default", "worker-render"])
def test_a_worker_recycles_before_the_oom_killer_and_stops_before_the_kill(name):
    idle, _ = _idle_figures()
    workload = WORKLOADS[name]
    container = _container(workload)
    env = _env(container)
    limit = _mib(container["resources"]["limits"]["memory"])
    max_rss = int(env["WORKER_MAX_RSS_MB"])
    assert int(env["WORKER_PROCESSES"]) == 1, "small pods: one process each"
    assert idle["worker-process"] < max_rss
    assert idle["worker-master"] + max_rss + PROBES_AT_ONCE * PROBE_MB + OVERSHOOT_MB <= limit
    shutdown_seconds = int(env["WORKER_SHUTDOWN_TIMEOUT_MS"]) / 1000
    assert _pod(workload)["terminationGracePeriodSeconds"] >= shutdown_seconds + 10
    # The pod's pause process is PID 1 and reaps the zombies a worker's children leave behind.
    assert _pod(workload)["shareProcessNamespace"] is True


def test_web_stops_within_its_grace_period():
    pod = _pod(WORKLOADS["web"])
    container = _container(WORKLOADS["web"])
    graceful = int(container["command"][container["command"].index("--graceful-timeout") + 1])
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] > graceful + pre_stop


def test_two_schedulers():
    assert WORKLOADS["scheduler"]["spec"]["replicas"] == 2


# --- autoscaling --------------------------------------------------------------------------------------


def test_keda_alone_sets_the_replicas_of_the_workers_it_scales():
    """A `replicas` in the manifest would reset KEDA's count at every `kubectl apply -k`."""
    scaled = {d["spec"]["scaleTargetRef"]["name"] for _, d in DOCS if d["kind"] == "ScaledObject"}
    assert scaled == {"worker-default", "worker-render"}
    for name in scaled:
        assert "replicas" not in WORKLOADS[name]["spec"], name


def test_each_worker_scales_on_the_length_of_its_own_queue():
    scaled = {d["spec"]["scaleTargetRef"]["name"]: d for _, d in DOCS if d["kind"] == "ScaledObject"}
    assert set(scaled) == {"worker-default", "worker-render"}
    auth_names = {d["metadata"]["name"] for _, d in DOCS if d["kind"] == "TriggerAuthentication"}
    for name, obj in scaled.items():
        command = _container(WORKLOADS[name])["command"]
        queue = command[command.index("--queues") + 1]
        lists = [t["metadata"]["listName"] for t in obj["spec"]["triggers"]]
        assert lists[0] == f"dramatiq:{queue}"
        assert set(lists) <= {f"dramatiq:{queue}", f"dramatiq:{queue}.DQ"}
        for trigger in obj["spec"]["triggers"]:
            assert trigger["type"] == "redis" and trigger["authenticationRef"]["name"] in auth_names
            assert trigger["metadata"]["databaseIndex"] == "0"  # REDIS_URL's database in the Secret
        assert obj["spec"]["minReplicaCount"] <= obj["spec"]["maxReplicaCount"]
    assert scaled["worker-default"]["spec"]["minReplicaCount"] >= 1, "the tick must never wait for a pod"
    render = scaled["worker-render"]["spec"]
    if render["minReplicaCount"] == 0:
        assert "dramatiq:render.DQ" in [t["metadata"]["listName"] for t in render["triggers"]], (
            "at zero replicas nobody moves due retries out of the delay queue"
        )
