"""Every pod that spools attachments has room for its threads' spools: a full emptyDir evicts the pod.

Attachments spool to config.spool_dir() (STATE_DIR/tmp), at most config.SPOOL_FILES_PER_THREAD
files of MAX_ATTACHMENT_BYTES per thread at once (tests/unit/test_spool_dir.py holds the code to
it). Kubernetes evicts a pod whose emptyDir passes its sizeLimit, so the volume mounted at the
spool path must hold that many for every thread of the pod. Web uploads wait in Django's
temporary files (/tmp), one upload per thread.
"""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest
from django.conf import settings

from pipeline import config
from tests.deploy.test_manifests import CONFIGMAP, WORKLOADS, _container, _env, _mib, _pod
from webapp.register.uploads import max_upload_bytes

#: Each Deployment that spools: the variables that say how many threads it runs (processes x threads).
SPOOLING = {
    "worker-default": ("WORKER_PROCESSES", "WORKER_THREADS"),
    "worker-render": ("WORKER_PROCESSES", "WORKER_THREADS"),
    # verify_storage --repair, reprocess_documents: the commands an operator runs in a web pod.
    "web": ("WEB_CONCURRENCY", "WEB_THREADS"),
}


def _room_mib(name: str, path: str) -> float:
    """The sizeLimit of the disk-backed emptyDir that holds `path` in `name`'s pod (the deepest mount wins)."""
    workload = WORKLOADS[name]
    volumes = {volume["name"]: volume for volume in _pod(workload)["volumes"]}
    mounts = [
        mount
        for mount in _container(workload)["volumeMounts"]
        if PurePosixPath(path).is_relative_to(PurePosixPath(mount["mountPath"]))
    ]
    assert mounts, f"{name}: nothing is mounted at {path}: the read-only root filesystem refuses it"
    volume = volumes[max(mounts, key=lambda mount: len(mount["mountPath"]))["name"]]
    assert "emptyDir" in volume, f"{name}: {path} is not on the pod's own disk"
    assert volume["emptyDir"].get("medium") != "Memory", "a memory-backed emptyDir counts against the memory limit"
    return _mib(volume["emptyDir"]["sizeLimit"])


def _threads(name: str) -> int:
    env = _env(_container(WORKLOADS[name]))
    processes, threads = SPOOLING[name]
    return int(env[processes]) * int(env[threads])


def test_the_spool_folder_is_the_state_folders_tmp():
    """What the manifests mount, the code uses."""
    assert config.spool_dir() == config.state_dir() / "tmp"


@pytest.mark.parametrize("name", sorted(SPOOLING))
def test_the_spool_volume_holds_every_threads_spools_at_the_attachment_cap(name):
    attachment_mib = int(CONFIGMAP["data"]["MAX_ATTACHMENT_MB"])
    needed = attachment_mib * _threads(name) * config.SPOOL_FILES_PER_THREAD
    spool_path = f"{CONFIGMAP['data']['STATE_DIR']}/tmp"
    room = _room_mib(name, spool_path)
    assert room >= needed, (
        f"{name}: {room:g}Mi at {spool_path}, {needed}Mi needed "
        f"({attachment_mib} MB x {_threads(name)} thread(s) x {config.SPOOL_FILES_PER_THREAD} spools)"
    )


def test_the_spool_has_a_volume_of_its_own_in_each_worker():
    """Not the state folder's: heartbeat files and the control socket must never share its limit."""
    for name in ("worker-default", "worker-render", "web"):
        mounts = {mount["mountPath"]: mount["name"] for mount in _container(WORKLOADS[name])["volumeMounts"]}
        state = CONFIGMAP["data"]["STATE_DIR"]
        assert mounts[f"{state}/tmp"] != mounts[state], name


def test_the_web_has_room_for_an_upload_per_thread():
    assert settings.FILE_UPLOAD_TEMP_DIR is None, "Django's temporary files go to /tmp"
    needed = max_upload_bytes() / 2**20 * _threads("web")
    assert _room_mib("web", "/tmp") >= needed
