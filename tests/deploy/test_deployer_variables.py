"""Every variable a deployer sets (pipeline/config.py DEPLOYER_VARIABLES) is listed where they set it.

The list is checked against what the code reads (tests/unit/test_config.py's scan), then against
Heroku's app.json, .env.example, the k8s Secret example and ConfigMap, and the workloads: each one
sets what its process needs, a secret through a secretKeyRef.
"""

from __future__ import annotations

import json

from pipeline import config
from pipeline.config import BASE_DIR, DEFAULT_QUEUE, DEPLOYER_VARIABLES, RENDER_QUEUE, DeployerVariable
from tests.deploy.test_manifests import CONFIGMAP, PROCFILE_PROCESS, SECRET, WORKLOADS
from tests.support.processes import procfile_commands
from tests.unit.test_config import env_example_names, python_reads

APP_JSON = json.loads((BASE_DIR / "app.json").read_text())
#: What each Heroku add-on sets itself (app.json must not set it too: the add-on's value changes on rotation).
ADDON_VARIABLES = {"heroku-postgresql": "DATABASE_URL", "heroku-redis": "REDIS_URL"}
#: Deployer variables with no place on Heroku, and why.
NOT_ON_HEROKU = {
    "REDIS_TLS_CA_FILE": "Heroku Redis's certificate is self-signed and changes with REDIS_URL: REDIS_TLS_VERIFY=false",
    "GRAPH_CLIENT_CERTIFICATE_PATH": "a dyno holds no file of the deployer's: GRAPH_CLIENT_CERTIFICATE takes the PEM",
}


def _always() -> list[DeployerVariable]:
    """The variables every production deployment sets (no `when`)."""
    return [variable for variable in DEPLOYER_VARIABLES.values() if not variable.when]


def _container(workload: dict) -> dict:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return container


def _queues(container: dict) -> set[str]:
    """The queues a worker's command consumes (`--queues a b`)."""
    command = container["command"]
    if "--queues" not in command:
        return set()
    after = command[command.index("--queues") + 1 :]
    return set(after[: next((i for i, word in enumerate(after) if word.startswith("--")), len(after))])


def _needs(variable: DeployerVariable, process: str, queues: set[str]) -> bool:
    if process not in variable.processes:
        return False
    return process != "worker" or not variable.queues or bool(queues & set(variable.queues))


def _set_in(container: dict) -> dict[str, dict]:
    """The variables a container's process gets: name -> its env entry (the ConfigMap's are {"configMap": ...})."""
    found = {}
    for source in container.get("envFrom", []):
        assert source["configMapRef"]["name"] == CONFIGMAP["metadata"]["name"]
        found.update({name: {"configMap": value} for name, value in CONFIGMAP["data"].items()})
    found.update({var["name"]: var for var in container.get("env", [])})
    return found


# --- the list and the code ------------------------------------------------------------------------------------


def test_every_deployer_variable_is_declared_and_read():
    declared = set(config.SETTINGS) | set(config.LIBRARY_VARIABLES)
    assert sorted(set(DEPLOYER_VARIABLES) - declared) == []
    assert sorted(set(DEPLOYER_VARIABLES) & set(config.SETTINGS) - python_reads()) == [], "nothing reads them"
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "GRAPH_TENANT_ID", "GRAPH_CLIENT_SECRET"} <= {
        variable.name for variable in _always()
    }


def test_every_deployer_variable_names_real_processes_queues_and_alternatives():
    for variable in DEPLOYER_VARIABLES.values():
        assert variable.processes and set(variable.processes) <= set(procfile_commands()), variable.name
        assert set(variable.queues) <= {DEFAULT_QUEUE, RENDER_QUEUE}, variable.name
        assert not variable.queues or "worker" in variable.processes, variable.name
        for alternative in variable.alternatives:
            assert DEPLOYER_VARIABLES[alternative].when, f"{alternative} is needed only instead of {variable.name}"


def test_a_setting_the_code_calls_required_is_a_deployer_variable():
    required = {setting.name for setting in config.SETTINGS.values() if "required" in setting.description}
    assert {"SECRET_KEY", "AWS_STORAGE_BUCKET_NAME"} <= required
    assert sorted(required - set(DEPLOYER_VARIABLES)) == []


# --- Heroku ---------------------------------------------------------------------------------------------------


def test_app_json_lists_every_deployer_variable():
    env = APP_JSON["env"]
    from_addons = {ADDON_VARIABLES[addon["plan"].split(":")[0]] for addon in APP_JSON["addons"]}
    assert from_addons == {"DATABASE_URL", "REDIS_URL"}
    assert sorted(from_addons & set(env)) == [], "an add-on sets it, and rewrites it on rotation"
    assert sorted(set(DEPLOYER_VARIABLES) - set(env) - from_addons - set(NOT_ON_HEROKU)) == []
    assert sorted(set(NOT_ON_HEROKU) & set(env)) == []
    assert sorted(set(env) - set(config.SETTINGS) - set(config.LIBRARY_VARIABLES)) == [], "nothing reads them"
    filled_by_the_deployer = {name for name, entry in env.items() if "value" not in entry}
    assert sorted(filled_by_the_deployer - set(DEPLOYER_VARIABLES)) == []


def test_app_json_asks_for_each_variable_as_it_is_needed():
    env = APP_JSON["env"]
    for name, entry in env.items():
        assert entry.get("description", "").strip(), name
    for variable in DEPLOYER_VARIABLES.values():
        entry = env.get(variable.name)
        if entry is None:
            continue
        if variable.secret:
            assert "value" not in entry, f"{variable.name}: a secret in app.json is published with the repository"
        asked = "value" not in entry and "generator" not in entry
        if asked and not variable.when and not variable.alternatives:
            assert entry.get("required", True) is True, f"{variable.name}: every deployment needs it"
    for name in ("GRAPH_TENANT_ID", "GRAPH_CLIENT_ID"):
        assert env[name].get("required", True) is True
    credentials = [name for name in env if name == "GRAPH_CLIENT_SECRET" or name.startswith("GRAPH_CLIENT_CERTIFICATE")]
    assert len(credentials) >= 3, "a client secret, or a certificate and its thumbprint"
    for name in credentials:
        assert env[name]["required"] is False, f"{name}: a deployer gives a client secret or a certificate"
        assert "GRAPH_CLIENT_" in env[name]["description"].replace(name, ""), f"{name}: name the other way"


def test_app_json_connects_to_heroku_redis_without_checking_its_self_signed_certificate():
    entry = APP_JSON["env"]["REDIS_TLS_VERIFY"]
    assert entry["value"] == "false"
    assert "Heroku Redis" in entry["description"] and "self-signed" in entry["description"]
    assert "REDIS_URL" in entry["description"], "why a CA file cannot do: the certificate changes with the URL"


# --- .env.example ---------------------------------------------------------------------------------------------


def test_env_example_sets_what_every_deployment_sets_and_shows_the_rest():
    set_lines, listed = env_example_names(set_only=True), env_example_names()
    assert sorted(variable.name for variable in _always() if variable.name not in set_lines) == []
    assert sorted(set(DEPLOYER_VARIABLES) - set(listed)) == []


# --- Kubernetes -----------------------------------------------------------------------------------------------


def _needed_in_kubernetes() -> set[str]:
    """The always-needed variables of the processes the manifests run."""
    needed = set()
    for name, workload in WORKLOADS.items():
        container = _container(workload)
        process = PROCFILE_PROCESS[name]
        needed |= {v.name for v in _always() if _needs(v, process, _queues(container))}
    return needed


def test_the_secret_example_and_the_configmap_hold_every_variable_the_workloads_need():
    secret_keys = set(SECRET["stringData"])
    variables_in_secret = {key for key in secret_keys if key.isupper()}  # lower case: KEDA's, not the app's
    assert sorted(variables_in_secret - {v.name for v in DEPLOYER_VARIABLES.values() if v.secret}) == []
    assert sorted(set(CONFIGMAP["data"]) & {v.name for v in DEPLOYER_VARIABLES.values() if v.secret}) == [], (
        "a secret in a ConfigMap is readable by anyone who may read the namespace's config"
    )
    needed = _needed_in_kubernetes()
    assert {"SECRET_KEY", "REDIS_URL", "ALLOWED_HOSTS", "GRAPH_CLIENT_SECRET"} <= needed
    secrets = {name for name in needed if DEPLOYER_VARIABLES[name].secret}
    assert sorted(secrets - secret_keys) == [], "missing from secret.example.yaml"
    assert sorted(needed - secrets - set(CONFIGMAP["data"])) == [], "missing from configmap.yaml"
    for name in secrets:
        assert "CHANGE-ME" in SECRET["stringData"][name] or ":" in SECRET["stringData"][name], name


def test_every_secret_a_workload_gets_comes_from_the_secret():
    for name, workload in WORKLOADS.items():
        for variable, entry in _set_in(_container(workload)).items():
            if variable in DEPLOYER_VARIABLES and DEPLOYER_VARIABLES[variable].secret:
                assert "secretKeyRef" in entry.get("valueFrom", {}), f"{name}: {variable} written in the manifest"


def test_every_workload_sets_what_its_process_needs():
    missing = []
    for name, workload in WORKLOADS.items():
        container = _container(workload)
        process, got = PROCFILE_PROCESS[name], _set_in(container)
        for variable in _always():
            given = variable.name in got or any(alternative in got for alternative in variable.alternatives)
            if _needs(variable, process, _queues(container)) and not given:
                missing.append(f"{name}: {variable.name}")
    assert missing == [], (
        f"workloads lack variables their process needs: {missing}. The GRAPH_TENANT_ID, GRAPH_CLIENT_ID and "
        "GRAPH_CLIENT_SECRET secretKeyRefs of web and worker-default come from the parallel branch that edits "
        "deploy/k8s/*-deployment.yaml; until it is merged, this assertion fails for those and only those."
    )
