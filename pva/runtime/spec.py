"""Nuclio function configuration (function.yaml) for the local runtime.

``load_function(path)`` reads and validates one ``function.yaml`` (or the directory holding it) into a
``FunctionSpec``; ``discover(functions_dir)`` loads every ``*/function.yaml`` below a directory.

Validation is strict on purpose: the same files are deployed unchanged with ``nuctl deploy``, so a key that
real Nuclio would ignore (typo) or reject is an error here, named by file and dotted key path.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .cron import CronSchedule
from .duration import parse_duration  # re-exported: pva.runtime.spec.parse_duration is public API

# Every key set below is the json tags / attribute fields of Nuclio 1.14.1 (github.com/nuclio/nuclio at
# 9e837f6a07fc), so a function.yaml passes here exactly when Nuclio would read every key of it:
#   pkg/functionconfig/types.go: Config (metadata, spec; status in ConfigWithStatus) l.630-633, Meta l.581-590,
#     Spec l.384-476, Trigger l.69-101, BatchConfiguration l.103-107;
#   pkg/processor/trigger/rabbitmq/types.go l.30-43, http/types.go l.33-48 (+ port, ingresses, serviceType read
#     by functionconfig/types.go l.217, l.239, l.520), cron/types.go l.28-33 with cron/event.go l.26-32
#     (concurrencyPolicy/jobBackoffLimit: platform/kube/functionres/lazy.go l.2036-2037).
# Nuclio itself ignores unknown keys (sigs.k8s.io/yaml, mapstructure), which is why a typo is an error here: on
# Nuclio it would silently do nothing.  apiVersion/kind are not struct fields but every Nuclio example has them.
SUPPORTED_KINDS = ("http", "rabbit-mq", "cron")
# pkg/processor/trigger/rabbitmq/factory.go l.78-79 registers both spellings for the same trigger.
KIND_ALIASES = {"rabbitMq": "rabbit-mq"}
# What the handler sees in event.trigger.kind: the kind each Go trigger passes to NewAbstractTrigger
# (rabbitmq/trigger.go l.58 "rabbitMq", http/trigger.go l.87 "http", cron/trigger.go l.55 "cron"), which
# rpc/encoder/encode.go l.32-35 sends to the python wrapper.
EVENT_KINDS = {"rabbit-mq": "rabbitMq", "http": "http", "cron": "cron"}
# Trigger kinds real Nuclio registers (RegistrySingleton.Register in pkg/processor/trigger/*/factory.go) but the
# local runtime does not run.
NUCLIO_ONLY_KINDS = ("kafka", "kafka-cluster", "kinesis", "nats", "eventhub", "v3ioStream", "v3ioItemPoller",
                     "mqtt", "iotCoreMqtt", "pubsub", "kickstart")

_SPEC_KEYS = {
    "description", "disable", "publish", "handler", "runtime", "env", "envFrom", "resources", "image", "imageHash",
    "replicas", "minReplicas", "maxReplicas", "targetCPU", "dataBindings", "triggers", "volumes", "version",
    "alias", "build", "runRegistry", "imagePullSecrets", "runtimeAttributes", "loggerSinks", "dealerURI",
    "platform", "readinessTimeoutSeconds", "serviceType", "imagePullPolicy", "securityContext", "serviceAccount",
    "scaleToZero", "disableDefaultHTTPTrigger", "disableSensitiveFieldsMasking", "devices", "affinity",
    "nodeSelector", "nodeName", "tolerations", "priorityClassName", "preemptionPolicy", "deploymentStrategy",
    "hostIPC", "customScalingMetricSpecs", "autoScaleMetrics", "waitReadinessTimeoutBeforeFailure",
    "eventTimeout", "preemptionMode", "sidecars", "initContainers",
}
_METADATA_KEYS = {"name", "namespace", "labels", "annotations", "resourceVersion"}
_TOP_KEYS = {"apiVersion", "kind", "metadata", "spec", "status"}
_TRIGGER_KEYS = {
    "class", "kind", "name", "disabled", "numWorkers", "url", "paths", "username", "password", "secret",
    "partitions", "annotations", "workerTerminationTimeout", "workerAvailabilityTimeoutMilliseconds",
    "workerAllocatorName", "explicitAckMode", "waitExplicitAckDuringRebalanceTimeout", "batch", "total_tasks",
    "max_task_allocation", "attributes", "maxWorkers",
}
_BATCH_KEYS = {"mode", "batchSize", "timeout"}
_ATTRIBUTE_KEYS = {
    "rabbit-mq": {"exchangeName", "queueName", "topics", "reconnectDuration", "reconnectInterval", "prefetchCount",
                  "durableExchange", "durableQueue"},
    "http": {"port", "ingresses", "serviceType", "readBufferSize", "maxRequestBodySize", "reduceMemoryUsage",
             "cors", "disablePortPublishing", "mode"},
    "cron": {"schedule", "interval", "event", "concurrencyPolicy", "jobBackoffLimit"},
}
_CRON_EVENT_KEYS = {"body", "path", "method", "headers"}
_HANDLER_RE = re.compile(r"^([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*):([A-Za-z_]\w*)$")
_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
DEFAULT_MAX_BODY = 4 * 1024 * 1024  # Nuclio's HTTP trigger default (fasthttp)


class SpecError(ValueError):
    """A function.yaml is malformed; the message names the file and the key path."""


@dataclass(frozen=True)
class TriggerSpec:
    name: str
    kind: str
    attributes: dict[str, Any]
    num_workers: int = 1
    url: str = ""
    declared_kind: str = ""  # as written in function.yaml ("rabbitMq" or "rabbit-mq"); ``kind`` is normalised

    @property
    def event_kind(self) -> str:
        """The trigger kind Nuclio puts in ``event.trigger.kind`` (``rabbitMq`` for either yaml spelling)."""
        return EVENT_KINDS[self.kind]

    def effective_url(self) -> str:
        """The broker URL a rabbit-mq trigger connects to locally.

        PVA_AMQP_URL (or the node `pva up` recorded in stack.json) replaces the url written in function.yaml,
        so one function.yaml works on any machine; without either, the yaml url (else the default) is used.
        Real Nuclio takes the url from the yaml or from deploy-time overrides.
        """
        import os

        from ..config import get_settings

        s = get_settings()
        if "PVA_AMQP_URL" in os.environ or s.stack_state().get("rabbitmq", {}).get("url"):
            return s.effective_amqp_url
        return self.url or s.effective_amqp_url


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    path: Path              # the function directory
    yaml_path: Path
    handler: str            # "module:function"
    runtime: str
    env: dict[str, str]
    triggers: dict[str, TriggerSpec]
    description: str = ""
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def module(self) -> str:
        return self.handler.split(":", 1)[0]

    @property
    def entrypoint(self) -> str:
        return self.handler.split(":", 1)[1]


class _Checker:
    def __init__(self, file: Path):
        self.file = file

    def fail(self, key: str, msg: str) -> SpecError:
        return SpecError(f"{self.file}: {key}: {msg}")

    def mapping(self, value, key: str, required: bool = False) -> dict:
        if value is None:
            if required:
                raise self.fail(key, "is required")
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a mapping, got {type(value).__name__}")
        for k in value:
            if not isinstance(k, str):
                raise self.fail(f"{key}.{k}", "keys must be strings")
        return value

    def known(self, value: dict, allowed: set[str], key: str, what: str) -> None:
        for k in value:
            if k not in allowed:
                raise self.fail(f"{key}.{k}" if key else k,
                                f"unknown {what} key (real Nuclio does not know it; check the spelling). "
                                f"Known keys: {', '.join(sorted(allowed))}")

    def string(self, value, key: str, required: bool = False) -> str:
        if value is None:
            if required:
                raise self.fail(key, "is required")
            return ""
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, got {type(value).__name__}")
        return value

    def integer(self, value, key: str, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be an integer, got {value!r}")
        if not lo <= value <= hi:
            raise self.fail(key, f"must be between {lo} and {hi}, got {value}")
        return value

    def boolean(self, value, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {value!r}")
        return value

    def duration(self, value, key: str) -> float:
        try:
            return parse_duration(value)
        except ValueError as e:
            raise self.fail(key, str(e)) from None


def load_function(path: str | Path) -> FunctionSpec:
    """Read and validate one function.yaml (``path`` may be the file or its directory)."""
    p = Path(path)
    yaml_path = p / "function.yaml" if p.is_dir() else p
    c = _Checker(yaml_path)
    try:
        text = yaml_path.read_text(encoding="utf-8")
    except OSError as e:
        raise SpecError(f"{yaml_path}: cannot read: {e.strerror or e}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SpecError(f"{yaml_path}: not valid YAML: {e}") from None
    doc = c.mapping(doc, "(document)", required=True)
    c.known(doc, _TOP_KEYS, "", "top-level")
    if doc.get("apiVersion") != "nuclio.io/v1":
        raise c.fail("apiVersion", f"must be \"nuclio.io/v1\", got {doc.get('apiVersion')!r}")
    if doc.get("kind") != "NuclioFunction":
        raise c.fail("kind", f"must be \"NuclioFunction\", got {doc.get('kind')!r}")

    meta = c.mapping(doc.get("metadata"), "metadata", required=True)
    c.known(meta, _METADATA_KEYS, "metadata", "metadata")
    name = c.string(meta.get("name"), "metadata.name", required=True)
    if not _NAME_RE.match(name):
        raise c.fail("metadata.name", f"{name!r} must be lowercase letters, digits and '-' (a DNS label)")
    for k in ("labels", "annotations"):
        c.mapping(meta.get(k), f"metadata.{k}")

    spec = c.mapping(doc.get("spec"), "spec", required=True)
    c.known(spec, _SPEC_KEYS, "spec", "spec")
    description = c.string(spec.get("description"), "spec.description")

    runtime = c.string(spec.get("runtime"), "spec.runtime") or "python:3.11"
    if not re.fullmatch(r"python(:3(\.\d+)?)?", runtime):
        raise c.fail("spec.runtime", f"{runtime!r} is not supported by the local runtime (use python:3.11)")

    handler = c.string(spec.get("handler"), "spec.handler", required=True)
    m = _HANDLER_RE.match(handler)
    if not m:
        raise c.fail("spec.handler", f"{handler!r} must look like module:function (e.g. handler:handler)")
    fdir = yaml_path.parent
    top = m.group(1).split(".")[0]
    if not ((fdir / f"{top}.py").is_file() or (fdir / top / "__init__.py").is_file()):
        raise c.fail("spec.handler", f"module {m.group(1)!r} not found: expected {fdir / (top + '.py')}")

    env: dict[str, str] = {}
    raw_env = spec.get("env")
    if raw_env is not None:
        if not isinstance(raw_env, list):
            raise c.fail("spec.env", "must be a list of {name: ..., value: ...} entries (Kubernetes EnvVar form)")
        for i, item in enumerate(raw_env):
            key = f"spec.env[{i}]"
            item = c.mapping(item, key, required=True)
            c.known(item, {"name", "value", "valueFrom"}, key, "env entry")
            if "valueFrom" in item:
                raise c.fail(f"{key}.valueFrom", "secrets/config maps are not available locally; use value "
                                                 "(or set the variable in the environment of `pva functions serve`)")
            ename = c.string(item.get("name"), f"{key}.name", required=True)
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", ename):
                raise c.fail(f"{key}.name", f"{ename!r} is not a valid environment variable name")
            val = item.get("value", "")
            if isinstance(val, bool) or not isinstance(val, (str, int, float)):
                raise c.fail(f"{key}.value", "must be a string (quote numbers and booleans)")
            env[ename] = str(val)

    triggers_raw = c.mapping(spec.get("triggers"), "spec.triggers")
    triggers: dict[str, TriggerSpec] = {}
    for tname, t in triggers_raw.items():
        triggers[tname] = _load_trigger(c, tname, t)
    if not triggers:
        raise c.fail("spec.triggers", "no triggers: add an http, rabbit-mq or cron trigger")

    return FunctionSpec(name=name, path=fdir.resolve(), yaml_path=yaml_path.resolve(), handler=handler,
                        runtime=runtime, env=env, triggers=triggers, description=description, raw=doc)


def _load_trigger(c: _Checker, tname: str, t) -> TriggerSpec:
    base = f"spec.triggers.{tname}"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", tname):
        raise c.fail(base, "trigger names must be letters, digits, '-', '_' or '.'")
    t = c.mapping(t, base, required=True)
    c.known(t, _TRIGGER_KEYS, base, "trigger")
    declared_kind = c.string(t.get("kind"), f"{base}.kind", required=True)
    kind = KIND_ALIASES.get(declared_kind, declared_kind)
    if kind in NUCLIO_ONLY_KINDS:
        raise c.fail(f"{base}.kind", f"{kind!r} triggers run only on real Nuclio; the local runtime supports "
                                     f"{', '.join(SUPPORTED_KINDS)}")
    if kind not in SUPPORTED_KINDS:
        raise c.fail(f"{base}.kind", f"unknown trigger kind {kind!r} (use one of {', '.join(SUPPORTED_KINDS)}; "
                                     f"Nuclio also takes rabbitMq for rabbit-mq)")
    num_workers = 1
    if "numWorkers" in t:
        num_workers = c.integer(t["numWorkers"], f"{base}.numWorkers", 1, 64)
    elif "maxWorkers" in t:  # deprecated alias in Nuclio
        num_workers = c.integer(t["maxWorkers"], f"{base}.maxWorkers", 1, 64)
    url = c.string(t.get("url"), f"{base}.url")
    batch = c.mapping(t.get("batch"), f"{base}.batch")
    c.known(batch, _BATCH_KEYS, f"{base}.batch", "batch")
    if batch.get("mode", "disable") not in ("enable", "disable"):
        raise c.fail(f"{base}.batch.mode", "must be \"enable\" or \"disable\"")
    if batch.get("mode") == "enable":
        # Batching hands the handler a list of events and reads a list of results back (rpc/abstract.go
        # ProcessBatch); the local runtime runs one event at a time, so it cannot stand in for it.
        raise c.fail(f"{base}.batch.mode", "batching runs only on real Nuclio; the local runtime hands the "
                                           "handler one event at a time (leave batch out or set mode: disable)")
    attrs = c.mapping(t.get("attributes"), f"{base}.attributes")
    akey = f"{base}.attributes"
    c.known(attrs, _ATTRIBUTE_KEYS[kind], akey, f"{kind} attribute")
    attrs = dict(attrs)

    if kind == "rabbit-mq":
        if url and not re.match(r"^amqps?://", url):
            raise c.fail(f"{base}.url", f"{url!r} must be an amqp:// or amqps:// URL")
        attrs["exchangeName"] = c.string(attrs.get("exchangeName"), f"{akey}.exchangeName", required=True)
        attrs["queueName"] = c.string(attrs.get("queueName"), f"{akey}.queueName")
        topics = attrs.get("topics", [])
        if not isinstance(topics, list) or not all(isinstance(x, str) and x for x in topics):
            raise c.fail(f"{akey}.topics", "must be a list of strings")
        attrs["topics"] = list(topics)
        attrs["prefetchCount"] = c.integer(attrs.get("prefetchCount", 0), f"{akey}.prefetchCount", 0, 65535)
        for b in ("durableExchange", "durableQueue"):
            attrs[b] = c.boolean(attrs.get(b, False), f"{akey}.{b}")
        for d in ("reconnectDuration", "reconnectInterval"):
            if d in attrs:
                c.duration(attrs[d], f"{akey}.{d}")
    elif kind == "http":
        if "port" in attrs:
            c.integer(attrs["port"], f"{akey}.port", 1, 65535)
        attrs["maxRequestBodySize"] = c.integer(attrs.get("maxRequestBodySize", DEFAULT_MAX_BODY),
                                                f"{akey}.maxRequestBodySize", 1, 2**40)
        # http/types.go l.50-57: sync (the default) or async; the 1.14.1 processor parses it but serves both
        # the same way, as the local runtime does.
        if attrs.get("mode", "sync") not in ("sync", "async"):
            raise c.fail(f"{akey}.mode", "must be \"sync\" or \"async\"")
        for b in ("reduceMemoryUsage", "disablePortPublishing"):
            if b in attrs:
                c.boolean(attrs[b], f"{akey}.{b}")
        if "readBufferSize" in attrs:
            c.integer(attrs["readBufferSize"], f"{akey}.readBufferSize", 1, 2**31 - 1)
    elif kind == "cron":
        has_i, has_s = "interval" in attrs, "schedule" in attrs
        if has_i == has_s:
            raise c.fail(akey, "set exactly one of interval (e.g. \"10s\") or schedule (e.g. \"*/5 * * * *\")")
        if has_i:
            seconds = c.duration(attrs["interval"], f"{akey}.interval")
            if seconds <= 0:
                raise c.fail(f"{akey}.interval", "must be positive")
        else:
            sched = c.string(attrs["schedule"], f"{akey}.schedule", required=True)
            try:
                CronSchedule(sched)
            except ValueError as e:
                raise c.fail(f"{akey}.schedule", str(e)) from None
        ev = c.mapping(attrs.get("event"), f"{akey}.event")
        c.known(ev, _CRON_EVENT_KEYS, f"{akey}.event", "cron event")
        for k in ("body", "path", "method"):
            c.string(ev.get(k), f"{akey}.event.{k}")
        hdrs = c.mapping(ev.get("headers"), f"{akey}.event.headers")
        for hk, hv in hdrs.items():
            if isinstance(hv, bool) or not isinstance(hv, (str, int)):
                raise c.fail(f"{akey}.event.headers.{hk}", "must be a string or an integer")
    return TriggerSpec(name=tname, kind=kind, attributes=attrs, num_workers=num_workers, url=url,
                       declared_kind=declared_kind)


def discover(functions_dir: str | Path) -> list[FunctionSpec]:
    """Every ``<functions_dir>/*/function.yaml``, validated, sorted by name. Duplicate names are an error."""
    root = Path(functions_dir)
    if not root.is_dir():
        raise SpecError(f"{root}: no such functions directory")
    specs = [load_function(p) for p in sorted(root.glob("*/function.yaml"))]
    seen: dict[str, Path] = {}
    for s in specs:
        if s.name in seen:
            raise SpecError(f"{s.yaml_path}: metadata.name: {s.name!r} is already used by {seen[s.name]}")
        seen[s.name] = s.yaml_path
    return sorted(specs, key=lambda s: s.name)


def select(specs: list[FunctionSpec], names: list[str] | None) -> list[FunctionSpec]:
    """The specs named (all when ``names`` is empty); unknown names are an error listing the known ones."""
    if not names:
        return specs
    by_name = {s.name: s for s in specs}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise SpecError(f"unknown function(s) {', '.join(missing)}; known: {', '.join(sorted(by_name)) or 'none'}")
    return [by_name[n] for n in dict.fromkeys(names)]
