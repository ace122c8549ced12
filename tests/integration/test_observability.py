"""deploy/: the alert rules and the Grafana dashboard, checked against a real worker.

Every PromQL expression (alert and recording rules, dashboard targets, the dashboard's
template variable queries) is parsed by promql-parser, the Python binding of the Rust
promql-parser crate: a syntax or type error fails here, as Prometheus or Grafana would
refuse it. The parsed tree gives the metric names and labels each expression names;
each name must be a series a real worker process exports at /metrics (prometheus_client
writes `# HELP`/`# TYPE` even for labelled families with no sample yet), mapped through
the family's type (counter `_total`, histogram `_bucket`/`_sum`/`_count`...). Recording
rules' names and the series Prometheus writes itself (`up`) are not the worker's.
Labels in matchers and `by`/`on` clauses must be ones the metrics have (or the target
labels Prometheus adds); those in legends and `$labels.*` in annotations, ones the
expression's result keeps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import promql_parser as promql
import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families
from pymongo import AsyncMongoClient

from worker.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD_FILE = ROOT / "deploy" / "grafana" / "tron-worker.json"

# What Prometheus writes itself, and the labels it adds to every scraped series.
PROMETHEUS_SERIES = {"up": frozenset()}
TARGET_LABELS = frozenset({"job", "instance"})
SEVERITIES = {"critical", "warning", "info"}
ALERT_KEYS = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
RECORD_KEYS = {"record", "expr", "labels"}

# The series each family type writes, and the labels those series add.
SUFFIXES = {
    "counter": {"_total": (), "_created": ()},
    "gauge": {"": ()},
    "histogram": {"_bucket": ("le",), "_count": (), "_sum": (), "_created": ()},
    "gaugehistogram": {"_bucket": ("le",), "_gcount": (), "_gsum": ()},
    "summary": {"": ("quantile",), "_count": (), "_sum": (), "_created": ()},
    "info": {"_info": ()},
    "stateset": {"": ()},
    "unknown": {"": ()},
}

# Grafana's variables, as a query would see them once Grafana has substituted them.
GRAFANA_VALUES = {
    "__rate_interval": "5m",
    "__interval": "1m",
    "__range": "6h",
    "job": "tron-worker",
    "instance": ".*",
    "wallet": ".*",
}
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
LABEL_VALUES = re.compile(r"^\s*label_values\((?P<selector>.*),\s*(?P<label>\w+)\s*\)\s*$", re.S)


# --- reading the files ------------------------------------------------------------------------


@dataclass
class Expression:
    where: str  # for messages: the rule or the panel
    text: str  # PromQL, Grafana's variables substituted
    label_refs: set[str] = field(default_factory=set)  # legends, annotations, variables


def _rules() -> dict[str, Any]:
    return yaml.safe_load(RULES_FILE.read_text())


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD_FILE.read_text())


def _all_rules() -> Iterator[dict[str, Any]]:
    for group in _rules()["groups"]:
        yield from group["rules"]


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested (collapsed) panels included."""
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _grafana(text: str) -> str:
    """The query with Grafana's variables ($name, ${name}, ${name:format}) substituted."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in GRAFANA_VALUES, f"unknown Grafana variable ${name} in {text!r}"
        return GRAFANA_VALUES[name]

    return VARIABLE.sub(value, text)


def _expressions() -> list[Expression]:
    found = []
    for rule in _all_rules():
        name = rule.get("alert") or rule.get("record")
        refs = set()
        for text in (rule.get("annotations") or {}).values():
            refs |= set(re.findall(r"\$labels\.(\w+)", text))
        found.append(Expression(f"rule {name}", rule["expr"], refs))
    dashboard = _dashboard()
    for panel in _panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
            where = f"panel {panel['id']} {panel['title']!r} target {target['refId']}"
            found.append(Expression(where, _grafana(target["expr"]), legend))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]
        text = query["query"] if isinstance(query, dict) else query
        match = LABEL_VALUES.match(text)
        assert match, f"variable {variable['name']}: only label_values(selector, label): {text!r}"
        where = f"variable {variable['name']}"
        found.append(Expression(where, _grafana(match["selector"]), {match["label"]}))
    return found


EXPRESSIONS = _expressions()


# --- what an expression names ---------------------------------------------------------------


@dataclass
class Names:
    selectors: list[promql.VectorSelector] = field(default_factory=list)
    grouping: set[str] = field(default_factory=set)  # by/without/on/ignoring/group_x labels


def _names(tree: promql.Expr) -> Names:
    names = Names()

    def visit(node: promql.Expr) -> None:
        if isinstance(node, promql.VectorSelector):
            names.selectors.append(node)
        elif isinstance(node, promql.AggregateExpr) and node.modifier is not None:
            names.grouping |= set(node.modifier.labels)
        elif isinstance(node, promql.BinaryExpr) and node.modifier is not None:
            if node.modifier.matching is not None:
                names.grouping |= set(node.modifier.matching.labels)
            names.grouping |= set(node.modifier.group_labels or [])

    promql.walk(tree, pre_visit=visit)
    return names


def _output(node: promql.Expr, labels_of: Callable[[str | None], frozenset[str]]) -> frozenset[str]:
    """The labels an expression's result can carry (labels_of: a metric name's labels).

    Modelled closely enough for legends and `$labels.*` in annotations: aggregations keep
    their `by` labels, histogram_quantile drops `le`, absent() keeps its equality matchers,
    a binary operation the left side's (the right's after a scalar or with group_right,
    both sides' for `or`, plus group_x labels)."""
    if isinstance(node, promql.VectorSelector):
        return labels_of(node.name)
    if isinstance(node, promql.MatrixSelector):
        return _output(node.vector_selector, labels_of)
    if isinstance(node, promql.ParenExpr | promql.UnaryExpr | promql.SubqueryExpr):
        return _output(node.expr, labels_of)
    if isinstance(node, promql.AggregateExpr):
        inner = _output(node.expr, labels_of)
        if str(node.op) in {"topk", "bottomk", "limitk", "limit_ratio"}:
            return inner
        if node.modifier is None:
            return frozenset()
        if node.modifier.type == promql.AggModifierType.By:
            return frozenset(node.modifier.labels)
        return inner - set(node.modifier.labels)
    if isinstance(node, promql.Call):
        name, args = node.func.name, node.args
        if name == "absent":
            return frozenset(
                m.name for m in args[0].matchers.matchers if m.op == promql.MatchOp.Equal
            )
        if name == "histogram_quantile":
            return _output(args[1], labels_of) - {"le"}
        if name in {"label_replace", "label_join"}:
            return _output(args[0], labels_of) | {args[1].val}
        vectors = [arg for arg in args if isinstance(arg, promql.Expr)]
        outputs = [_output(arg, labels_of) for arg in vectors]
        return next((labels for labels in outputs if labels), frozenset())
    if isinstance(node, promql.BinaryExpr):
        lhs, rhs = _output(node.lhs, labels_of), _output(node.rhs, labels_of)
        modifier = node.modifier
        extra = frozenset(modifier.group_labels or []) if modifier is not None else frozenset()
        if str(node.op) == "or":
            return lhs | rhs
        if modifier is not None and modifier.card == promql.VectorMatchCardinality.OneToMany:
            return rhs | extra
        if not lhs:  # a scalar (1, time()) or a label-less vector on the left
            return rhs | extra
        return lhs | extra
    return frozenset()  # number and string literals


def _parse(expression: Expression) -> promql.Expr:
    try:
        return promql.parse(expression.text)
    except ValueError as exc:
        raise AssertionError(f"{expression.where}: {exc}\n{expression.text}") from exc


def _recording_rules() -> dict[str, str]:
    return {rule["record"]: rule["expr"] for rule in _all_rules() if "record" in rule}


# --- what the worker exports ----------------------------------------------------------------


def _exported(exposition: str) -> dict[str, frozenset[str]]:
    """Every series name the exposition's families can write, with their labels: declared
    in worker/metrics.py for the worker's own (a family without samples shows none), seen
    in the samples for the rest (process_*, python_*)."""
    declared = {
        metric._name: frozenset(metric._labelnames)  # no public accessor for either
        for metric in vars(Metrics()).values()
        if isinstance(metric, MetricWrapperBase)
    }
    series = {}
    for family in text_string_to_metric_families(exposition):
        seen = {label for sample in family.samples for label in sample.labels}
        labels = declared.get(family.name, frozenset(seen))
        for suffix, extra in SUFFIXES[family.type].items():
            series[family.name + suffix] = labels | set(extra)
    return series


def _check_names(exported: dict[str, frozenset[str]]) -> list[str]:
    """Every problem found in every expression: unknown metrics, unknown labels."""
    recorded = _recording_rules()
    known = {**PROMETHEUS_SERIES, **exported}
    recorded_labels: dict[str, frozenset[str]] = {}

    def labels(name: str | None) -> frozenset[str]:
        """A scraped series has the target's labels too; a recorded one has what it kept."""
        if name in known:
            return known[name] | TARGET_LABELS
        return recorded_labels.get(name or "", frozenset())

    for name, expr in recorded.items():  # in file order: a rule may use an earlier one
        recorded_labels[name] = _output(promql.parse(expr), labels)

    problems = []
    for expression in EXPRESSIONS:
        tree = _parse(expression)
        names = _names(tree)
        universe = set(TARGET_LABELS)
        for selector in names.selectors:
            name = selector.name
            if name is None:
                problems.append(f"{expression.where}: a selector without a metric name")
                continue
            if name not in known and name not in recorded:
                problems.append(f"{expression.where}: {name} is not in the worker's /metrics")
                continue
            universe |= labels(name)
            for matcher in selector.matchers.matchers:
                if matcher.name not in labels(name):
                    problems.append(f"{expression.where}: {name} has no label {matcher.name!r}")
        for label in sorted(names.grouping - universe):
            problems.append(f"{expression.where}: label {label!r} is on none of its series")
        for label in sorted(expression.label_refs - _output(tree, labels)):
            problems.append(f"{expression.where}: its result has no label {label!r}")
    return problems


def _duration(text: str) -> None:
    """A Prometheus duration (units required, `0m` too: fire at once)."""
    assert re.fullmatch(r"(\d+(ms|[smhdwy]))+", text), f"not a duration: {text!r}"
    if not re.fullmatch(r"0+[smhdwy]", text):  # parse_duration refuses zero
        promql.parse_duration(text)


# --- the rules file -------------------------------------------------------------------------


def test_the_rules_file_has_groups_of_complete_rules() -> None:
    rules = _rules()
    assert set(rules) == {"groups"}, set(rules)
    group_names = [group["name"] for group in rules["groups"]]
    assert len(group_names) == len(set(group_names)), group_names
    alerts = []
    for group in rules["groups"]:
        assert set(group) <= {"name", "rules", "interval", "limit"}, group["name"]
        assert group["rules"], f"group {group['name']} has no rules"
        for rule in group["rules"]:
            if "record" in rule:
                assert set(rule) <= RECORD_KEYS and "expr" in rule, rule
                assert re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*(:[a-zA-Z0-9_]+)+", rule["record"])
                continue
            name = rule.get("alert")
            assert name and set(rule) <= ALERT_KEYS, rule
            alerts.append(name)
            assert {"expr", "for", "labels", "annotations"} <= set(rule), f"{name}: {set(rule)}"
            _duration(str(rule["for"]))
            assert rule["labels"].get("severity") in SEVERITIES, f"{name}: {rule['labels']}"
            for key in ("summary", "description"):
                text = rule["annotations"].get(key)
                assert isinstance(text, str) and text.strip(), f"{name}: no {key}"
                assert text.count("{{") == text.count("}}"), f"{name}: {key} template"
    assert len(alerts) == len(set(alerts)), alerts
    asked_for = {  # issue 13: what an operator must be told
        "TronWorkerDeadLetters",
        "TronWorkerOutboxStuck",
        "TronWorkerFollowerLagging",
        "TronWorkerNoConfirmations",
        "TronWorkerNodeCircuitOpen",
        "TronWorkerHotWalletBalanceLow",
        "TronWorkerNotReady",
        "TronWorkerUnexplainedOutflow",
    }
    assert asked_for <= set(alerts), asked_for - set(alerts)


def test_every_rule_expression_is_an_instant_vector_query() -> None:
    for rule in _all_rules():
        name = rule.get("alert") or rule.get("record")
        tree = _parse(Expression(f"rule {name}", rule["expr"]))
        assert not isinstance(tree, promql.MatrixSelector | promql.StringLiteral), name


# --- the dashboard --------------------------------------------------------------------------


def test_the_dashboard_has_unique_panels_with_targets_on_the_datasource_variable() -> None:
    dashboard = _dashboard()
    assert dashboard["title"] and dashboard["uid"] and dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    source = {"type": "prometheus", "uid": "${datasource}"}
    panels = list(_panels(dashboard["panels"]))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), sorted(ids)
    placed = []
    for panel in panels:
        where = f"panel {panel['id']} {panel.get('title')!r}"
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, where
        placed.append((grid["x"], grid["y"], grid["w"], grid["h"], where))
        if panel["type"] == "row":
            assert not panel.get("targets"), where
            continue
        assert panel.get("title"), where
        assert panel["datasource"] == source, where
        targets = panel.get("targets") or []
        assert targets, f"{where} has no targets"
        refs = [target["refId"] for target in targets]
        assert len(refs) == len(set(refs)), where
        for target in targets:
            assert target["datasource"] == source and target["expr"].strip(), where
    for index, (x, y, w, h, where) in enumerate(placed):
        for x2, y2, w2, h2, other in placed[index + 1 :]:
            overlap = x < x2 + w2 and x2 < x + w and y < y2 + h2 and y2 < y + h
            assert not overlap, f"{where} overlaps {other}"


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    shown = " ".join(
        target["expr"]
        for panel in _panels(_dashboard()["panels"])
        for target in panel.get("targets", [])
    )
    for metric in (
        "tron_worker_commands_total",
        "tron_worker_command_duration_seconds_bucket",
        "tron_worker_outbox_unpublished",
        "tron_worker_dead_letters_total",
        "tron_worker_node_latency_seconds_bucket",
        "tron_worker_node_circuit_open",
        "tron_worker_follower_block_timestamp_seconds",
        "tron_worker_wallet_balance_sun",
        "tron_worker_wallet_energy_available",
        "tron_worker_wallet_bandwidth_available",
        "tron_worker_fees_burned_sun_total",
        "tron_worker_energy_delegated_total",
        "tron_worker_needs_attention_total",
        "tron_worker_unexplained_outflow_total",
        "tron_worker_db_round_trips_total",
    ):
        assert metric in shown, metric


# --- every expression against the worker's metrics ------------------------------------------


@pytest.mark.parametrize("expression", EXPRESSIONS, ids=[e.where for e in EXPRESSIONS])
def test_every_expression_parses(expression: Expression) -> None:
    _parse(expression)


def test_every_worker_metric_is_on_the_dashboard_or_in_a_rule() -> None:
    referenced = {
        selector.name
        for expression in EXPRESSIONS
        for selector in _names(_parse(expression)).selectors
    }
    unshown = [
        family.name
        for family in text_string_to_metric_families(Metrics().exposition().decode())
        # A counter's `_created` is written as a family of its own: its counter is enough.
        if family.name.startswith("tron_worker_")
        and not family.name.endswith("_created")
        and not {family.name + suffix for suffix in SUFFIXES[family.type]} & referenced
    ]
    assert not unshown, f"metrics without a panel or a rule: {unshown}"


@pytest.mark.integration
async def test_every_metric_named_in_deploy_is_exported_by_a_real_worker(
    make_worker, amqp, namespace, mongo_url
) -> None:
    # `amqp` deletes the namespace's queues and exchanges after; the database goes here.
    worker = make_worker()
    try:
        worker.start()
        await worker.wait_status("/health/ready", 200)
        async with aiohttp.ClientSession() as http:
            async with http.get(worker.sidecar_url + "/metrics") as response:
                assert response.status == 200
                exposition = await response.text()
        assert await worker.stop() == 0
    finally:
        client: AsyncMongoClient = AsyncMongoClient(mongo_url)
        await client.drop_database(worker.env["TRON_WORKER_MONGO__DATABASE"])
        await client.close()
    exported = _exported(exposition)
    assert "tron_worker_commands_total" in exported, "the worker's own families are there"
    problems = _check_names(exported)
    assert not problems, "\n".join(problems)
