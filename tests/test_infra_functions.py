"""Every functions/*/function.yaml loads with the local runtime's strict loader and uses only keys that Nuclio
reads, so the same directory deploys unchanged with `nuctl deploy`.

The key sets below are written from Nuclio 1.14.1's structs (nuclio/nuclio at 9e837f6a07fc: the json tags of
Config/Meta/Spec/Trigger in pkg/functionconfig/types.go; the attribute fields of pkg/processor/trigger/
{rabbitmq,http,cron}/types.go) and its trigger docs (docs/reference/triggers/{rabbitmq,http,cron}.md),
independently of pva.runtime.spec.  Keys only the docs or older versions mention (avatar, streamChunkTimeout,
onError, requeueOnError) are not in the structs, so Nuclio would ignore them.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pva.config import REPO_ROOT, Settings
from pva.runtime.spec import discover, load_function

FUNCTIONS = REPO_ROOT / "functions"
FUNCTION_DIRS = sorted(p for p in FUNCTIONS.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))

NUCLIO_TOP = {"apiVersion", "kind", "metadata", "spec"}
NUCLIO_METADATA = {"name", "namespace", "labels", "annotations"}
NUCLIO_SPEC = {
    "description", "handler", "runtime", "image", "env", "envFrom", "volumes", "replicas", "minReplicas",
    "maxReplicas", "platform", "targetCPU", "dataBindings", "triggers", "build", "runRegistry", "runtimeAttributes",
    "resources", "readinessTimeoutSeconds", "waitReadinessTimeoutBeforeFailure", "eventTimeout",
    "securityContext", "serviceType", "affinity", "nodeSelector", "nodeName", "priorityClassName",
    "preemptionPolicy",
}
NUCLIO_RUNTIMES = {"golang", "python:3.10", "python:3.11", "python:3.12", "shell", "java", "nodejs"}
NUCLIO_TRIGGER = {
    "kind", "url", "username", "password", "numWorkers", "workerTerminationTimeout", "annotations",
    "workerAvailabilityTimeoutMilliseconds", "attributes", "batch",
}
NUCLIO_TRIGGER_KINDS = {"cron", "eventhub", "http", "kafka-cluster", "kinesis", "nats", "rabbit-mq", "rabbitMq"}
NUCLIO_ATTRIBUTES = {
    "rabbit-mq": {"exchangeName", "queueName", "topics", "reconnectDuration", "reconnectInterval", "prefetchCount",
                  "durableExchange", "durableQueue"},
    "rabbitMq": set(),  # filled below: the same trigger (rabbitmq/factory.go registers both spellings)
    "http": {"ingresses", "port", "maxRequestBodySize", "readBufferSize", "reduceMemoryUsage", "cors", "mode"},
    "cron": {"schedule", "interval", "concurrencyPolicy", "jobBackoffLimit", "event"},
}
NUCLIO_ATTRIBUTES["rabbitMq"] = NUCLIO_ATTRIBUTES["rabbit-mq"]
KUBERNETES_ENV_VAR = {"name", "value", "valueFrom"}
# DESIGN.md "Queues and events"
ROUTING_KEYS = {"media.ingest", "storage.inbox"} | {f"analysis.{k}" for k in ("detect", "faces", "ocr", "transcribe",
                                                                                      "transcode")}


def _doc(d: Path) -> dict:
    return yaml.safe_load((d / "function.yaml").read_text())


def test_there_are_functions_to_check():
    assert {"ingest", "detect", "faces", "ocr", "transcribe", "transcode"} <= {d.name for d in FUNCTION_DIRS}


@pytest.mark.parametrize("fdir", FUNCTION_DIRS, ids=lambda p: p.name)
def test_function_dir_loads_with_the_strict_loader(fdir):
    assert (fdir / "function.yaml").is_file(), f"{fdir} has no function.yaml"
    spec = load_function(fdir)
    assert spec.triggers
    assert (fdir / f"{spec.module.split('.')[0]}.py").is_file()


def test_function_names_are_unique():
    specs = discover(FUNCTIONS)
    assert len({s.name for s in specs}) == len(FUNCTION_DIRS)


@pytest.mark.parametrize("fdir", FUNCTION_DIRS, ids=lambda p: p.name)
def test_function_yaml_uses_only_documented_nuclio_keys(fdir):
    doc = _doc(fdir)
    where = fdir.name
    assert set(doc) <= NUCLIO_TOP, (where, set(doc) - NUCLIO_TOP)
    assert doc["apiVersion"] == "nuclio.io/v1" and doc["kind"] == "NuclioFunction"
    assert set(doc["metadata"]) <= NUCLIO_METADATA, (where, set(doc["metadata"]) - NUCLIO_METADATA)
    spec = doc["spec"]
    assert set(spec) <= NUCLIO_SPEC, (where, set(spec) - NUCLIO_SPEC)
    assert spec.get("runtime", "python:3.11") in NUCLIO_RUNTIMES
    for i, env in enumerate(spec.get("env") or []):
        assert set(env) <= KUBERNETES_ENV_VAR, (where, i, env)
        assert isinstance(env.get("value", ""), str), (where, env)  # Kubernetes wants strings
    for name, trig in spec["triggers"].items():
        assert set(trig) <= NUCLIO_TRIGGER, (where, name, set(trig) - NUCLIO_TRIGGER)
        assert "maxWorkers" not in trig, f"{where}.{name}: maxWorkers is deprecated in Nuclio; use numWorkers"
        assert trig["kind"] in NUCLIO_TRIGGER_KINDS
        attrs = set(trig.get("attributes") or {})
        allowed = NUCLIO_ATTRIBUTES[trig["kind"]]
        assert attrs <= allowed, (where, name, attrs - allowed)


@pytest.mark.parametrize("fdir", FUNCTION_DIRS, ids=lambda p: p.name)
def test_rabbit_triggers_follow_the_queue_contract(fdir):
    spec = load_function(fdir)
    exchange = Settings().amqp_exchange
    for t in spec.triggers.values():
        if t.kind != "rabbit-mq":
            continue
        a = t.attributes
        assert a["exchangeName"] == exchange
        assert a["durableExchange"] and a["durableQueue"], "the pva exchange and queues are durable (DESIGN)"
        assert a["queueName"].startswith("pva."), "each function names its queue pva.<function>"
        assert a["topics"] and set(a["topics"]) <= ROUTING_KEYS, set(a["topics"]) - ROUTING_KEYS


def test_http_trigger_ports_do_not_collide():
    seen: dict[int, str] = {}
    for s in discover(FUNCTIONS):
        for t in s.triggers.values():
            port = t.attributes.get("port") if t.kind == "http" else None
            if port:
                assert port not in seen, f"{s.name} and {seen[port]} both use port {port}"
                seen[port] = s.name
