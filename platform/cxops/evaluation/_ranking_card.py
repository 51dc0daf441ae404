"""The model card of a next-best-offer ranker: Markdown, self-contained HTML and metrics JSON.

Same files, formatting and escaping as the classification card (`model_card.py`): Jinja2 with
autoescaping for HTML, so spec text and offer names can never inject markup.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cxops.evaluation.model_card import BIAS_GAP_NOTICE, ModelCardFiles, _fmt
from cxops.evaluation.report import _json_safe
from cxops.specs import ModelSpec

if TYPE_CHECKING:
    from cxops.evaluation.ranking import RankingReport

__all__ = ["RANKING_BASELINE_WARNING", "protocol", "ranking_limitations", "write_ranking_card"]

RANKING_BASELINE_WARNING = "This candidate does not beat both baselines (popularity and co-occurrence)"
"""The line a ranker's card carries, prominently, when its NDCG@k is not above both baselines'."""

_LOW_COVERAGE = 0.5
_RANKERS = (
    ("", "Model"),
    ("popularity_", "Popularity baseline"),
    ("cooccurrence_", "Co-occurrence baseline"),
)
_METRICS = (
    ("hit_rate_at_k", "Hit rate@{k}"),
    ("hit_rate_at_1", "Hit rate@1"),
    ("ndcg_at_k", "NDCG@{k}"),
    ("map_at_k", "MAP@{k}"),
    ("coverage_at_k", "Catalogue coverage@{k}"),
)
_TRAINING_FIRST = ("mode", "rows", "queries", "validation", "best_iteration", "durations", "params")


def protocol(report: RankingReport) -> list[str]:
    """The evaluation protocol in words, as the card states it."""
    k = report.k
    return [
        "One query per held-out customer (no customer is in both the training and the test split); "
        "their profile is their first response row.",
        "Relevant offers are the ones the customer accepted. Candidates are the offers the policy allows "
        "on the profile plus every offer actually made to them (an offer that was made was eligible then, "
        "which keeps retention offers rankable).",
        "The model and two baselines fitted on the training rows only rank the same candidates; ties go "
        "to the offer earlier in the catalogue. Popularity ranks offers by acceptances in training, the "
        "same for everyone (it is also what customers who objected to profiling get). Co-occurrence "
        "scores an offer by its acceptance rate among training customers holding the same offers, shrunk "
        "toward its overall rate.",
        f"Hit rate@{k}: share of queries with an accepted offer in the top {k}. NDCG@{k}: binary relevance, "
        f"normalised by the best possible ordering of min(accepted, {k}) offers. MAP@{k}: average "
        f"precision at {k}, normalised by min(accepted, {k}). These average over the "
        f"{int(report.metrics['queries_with_acceptance'])} queries with an acceptance; the other "
        f"{int(report.metrics['queries'] - report.metrics['queries_with_acceptance'])} count only for "
        f"coverage@{k}, the share of the {report.catalogue_size} catalogue offers that appear in some "
        f"top {k}.",
    ]


def ranking_limitations(report: RankingReport, spec: ModelSpec) -> list[str]:
    """Plain-language caveats read off the evaluation itself."""
    m, k = report.metrics, report.k
    n = int(m["queries_with_acceptance"])
    hr = m["hit_rate_at_k"]
    margin = 1.96 * math.sqrt(hr * (1 - hr) / n) if n and math.isfinite(hr) else float("nan")
    notes = [
        f"Evaluated on {int(m['queries'])} held-out customers, {n} with an accepted offer: hit rate@{k} is "
        f"known to about ±{_fmt(margin, 2)} (95%), per-group figures less precisely still.",
        "Offline evaluation on logged offers: customers answered the offers they were made, not the ones "
        "this model would make, so acceptance of offers never made to them is unknown (counted as not "
        "accepted).",
    ]
    for check in report.failed_checks:
        word = "at least" if check.direction == "min" else "at most"
        notes.append(
            f"Release threshold not met: {check.metric} is {_fmt(check.value)}, it must be {word} "
            f"{_fmt(check.bound)}."
        )
    for name, gap in report.segment_gaps().items():
        if math.isfinite(gap) and gap > BIAS_GAP_NOTICE:
            notes.append(f"By {name}, hit rate@{k} differs by {gap:.3f} between groups.")
    inputs = set(spec.features.names if spec.features else [])
    used = [s for s in spec.evaluation.bias_segments if s in inputs]
    if used:
        notes.append(
            f"The bias segments {used} are also model inputs: gaps between their groups are partly by "
            "design and need a documented justification."
        )
    coverage = m.get("coverage_at_k", float("nan"))
    if math.isfinite(coverage) and coverage < _LOW_COVERAGE:
        notes.append(
            f"The model puts only {coverage:.0%} of the catalogue in some top {k}: the other offers are "
            "almost never proposed."
        )
    for name, why in report.unmeasured_segments.items():
        notes.append(f"Segment {name} was not measured: {why}.")
    notes.append(
        f"Bias measured only on the segments {', '.join(spec.evaluation.bias_segments) or 'none'}; other "
        "groups were not checked."
    )
    return notes


def _baseline_warning(report: RankingReport) -> str | None:
    if report.beats_baselines:
        return None
    found = [w for w in report.warnings if w.startswith(RANKING_BASELINE_WARNING)]
    return found[0] if found else f"{RANKING_BASELINE_WARNING}."


def _label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _value(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value)
    return _fmt(value)


def _training_rows(training: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Whatever the training summary holds, known keys first; nested mappings flattened to one line."""
    if not training:
        return []
    keys = [k for k in _TRAINING_FIRST if k in training] + [k for k in training if k not in _TRAINING_FIRST]
    rows = []
    for key in keys:
        value = training[key]
        if value is None or value == {} or value == []:
            continue
        if key == "params" and isinstance(value, dict):
            rows.append(("Parameters", ", ".join(f"{p}={v}" for p, v in value.items())))
        elif key == "durations" and isinstance(value, dict):
            rows.append(("Durations (s)", ", ".join(f"{p} {_fmt(v, 1)}" for p, v in value.items())))
        else:
            rows.append((_label(key), _value(value)))
    return rows


def _environment():
    from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape

    env = Environment(
        loader=DictLoader({"card.md.j2": _MARKDOWN, "card.html.j2": _HTML}),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = _fmt
    env.filters["pct"] = lambda v: "n/a" if v is None or not math.isfinite(v) else f"{v:.1%}"
    return env


def write_ranking_card(
    report: RankingReport,
    spec: ModelSpec,
    out_dir: Path,
    training: dict[str, Any] | None = None,
    *,
    version: int | str | None = None,
    lineage: dict[str, Any] | None = None,
) -> ModelCardFiles:
    """Write `model_card.md`, `model_card.html` and `metrics.json` into `out_dir` (no plots).

    `training` is the training step's summary (rows, durations, best iteration... whichever it has);
    `lineage` any JSON-ready mapping (dataset snapshot, feature service, code version).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = report.to_dict()
    training_dict = _json_safe(dict(training)) if training else None
    metrics = report.metrics
    k = report.k
    segments: dict[str, list[dict[str, Any]]] = {}
    for row in data["segments"]:
        segments.setdefault(row["segment"], []).append(row)
    context = {
        "spec": spec,
        "version": version,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "report": data,
        "k": k,
        # One row per ranker, so the model and the baselines read side by side.
        "headers": [label.format(k=k) for _, label in _METRICS],
        "comparison": [
            (title, [metrics.get(prefix + key) for key, _ in _METRICS]) for prefix, title in _RANKERS
        ],
        "lift": {
            "popularity": metrics.get("lift_over_popularity"),
            "cooccurrence": metrics.get("lift_over_cooccurrence"),
        },
        "baseline_warning": _baseline_warning(report),
        "protocol": protocol(report),
        "segments": segments,
        "gaps": report.segment_gaps(),
        "training_rows": _training_rows(training_dict),
        "limitations": ranking_limitations(report, spec),
        "lineage": _json_safe(dict(lineage)) if lineage else None,
    }
    env = _environment()
    markdown = out / "model_card.md"
    markdown.write_text(env.get_template("card.md.j2").render(**context))
    html = out / "model_card.html"
    html.write_text(env.get_template("card.html.j2").render(**context))
    metrics_json = out / "metrics.json"
    metrics_json.write_text(
        json.dumps(
            {"model_name": spec.name, "version": version, "evaluation": data, "training": training_dict},
            indent=2,
            allow_nan=False,
        )
    )
    return ModelCardFiles(markdown=markdown, html=html, metrics_json=metrics_json)


_MARKDOWN = """\
# Model card: {{ spec.name }}{% if version is not none %} (version {{ version }}){% endif %}


{{ spec.description }}

Generated {{ generated_at }}; evaluated {{ report.evaluated_at }}. Release thresholds: \
**{{ "passed" if report.passed else "FAILED" }}**.
{% if baseline_warning %}

> **Warning:** {{ baseline_warning }}
{% endif %}

## Model details

| | |
| --- | --- |
| Model | {{ spec.name }}{% if version is not none %}, version {{ version }}{% endif %} |
| Task | ranking offers by how likely the customer is to answer `{{ spec.data.positive_label }}` \
(`{{ spec.data.label }}`) |
| Algorithm | {{ spec.trainer.kind }} (learning to rank with gradient-boosted trees, one query per customer) |
| Owner | {{ spec.owner.name }} <{{ spec.owner.email }}> |
| Team | {{ spec.team }} |
| Offer policy | `{{ spec.recommendation.policy }}`, version {{ report.policy_version }} \
({{ report.catalogue_size }} offers) |
| Cut-off k | {{ k }} |

## Intended use

**Purpose.** {{ spec.purpose | trim }}

**Intended use.** {{ spec.intended_use | trim }}

**Out of scope.** {{ spec.out_of_scope_use | trim }}

## Data

- Label: `{{ spec.data.label }}` (relevant: `{{ spec.data.positive_label }}`); one row per offer made; \
customer `{{ spec.data.entity_key }}` (pseudonymised as `{{ spec.features.join_key }}`), offer \
`{{ spec.recommendation.item_key }}`.
- Features (Feast service `{{ spec.features.feature_service }}`, views \
{{ spec.features.feature_views | join(", ") }}): \
{% for c in spec.features.inputs %}`{{ c.name }}`{{ ", " if not loop.last }}{% endfor %}.
- Evaluation: {{ report.metrics.queries | int }} held-out customers, \
{{ report.metrics.queries_with_acceptance | int }} with an accepted offer; \
{{ report.metrics.mean_candidates | fmt(1) }} candidate offers per customer on average.

### Privacy

- Personal data categories: {{ spec.privacy.personal_data_categories | join(", ") }}.
- Pseudonymised fields: {{ spec.privacy.pseudonymised_fields | join(", ") }}.
- Lawful basis: {{ spec.privacy.lawful_basis | trim }}.
- DPIA: `{{ spec.privacy.dpia }}`.
{% if training_rows %}

## Training

| | |
| --- | --- |
{% for label, value in training_rows %}
| {{ label }} | {{ value }} |
{% endfor %}
{% endif %}

## Evaluation protocol

{% for line in protocol %}
- {{ line }}
{% endfor %}

## Ranking metrics

| Ranker | {{ headers | join(" | ") }} |
| --- |{% for _ in headers %} --- |{% endfor %}

{% for title, values in comparison %}
| {{ title }} |{% for v in values %} {{ v | fmt }} |{% endfor %}

{% endfor %}

NDCG@{{ k }} lift over popularity {{ lift.popularity | fmt(2) }}, over co-occurrence \
{{ lift.cooccurrence | fmt(2) }}. Beats both baselines: \
**{{ "yes" if report.beats_baselines else "no" }}**.

## Release thresholds

| Metric | Bound | Value | Result |
| --- | --- | --- | --- |
{% for c in report.checks %}
| {{ c.metric }} | {{ "≥" if c.direction == "min" else "≤" }} {{ c.bound | fmt }} | {{ c.value | fmt }} | \
{{ "passed" if c.passed else "**failed**" }} |
{% endfor %}

## Bias by segment

Hit rate@{{ k }} per group, over the customers of the group with an accepted offer.

{% for name, rows in segments.items() %}
### {{ name }}

| group | customers | model | popularity | co-occurrence |
| --- | --- | --- | --- | --- |
{% for r in rows %}
| {{ r.value }} | {{ r.queries }} | {{ r.hit_rate_at_k | fmt }} | {{ r.popularity_hit_rate_at_k | fmt }} | \
{{ r.cooccurrence_hit_rate_at_k | fmt }} |
{% endfor %}

Largest gap between groups (model): {{ gaps[name] | fmt }}.

{% endfor %}
{% for name, why in report.unmeasured_segments.items() %}
- {{ name }}: not measured ({{ why }}).
{% endfor %}

## Offers recommended most

How often each offer is in a customer's top {{ k }} (all {{ report.metrics.queries | int }} held-out \
customers).

| Offer | Name | Kind | Times in a top {{ k }} | Share of customers |
| --- | --- | --- | --- | --- |
{% for o in report.top_offers %}
| `{{ o.offer_id }}` | {{ o.name }} | {{ o.kind }} | {{ o.count }} | {{ o.share_of_queries | pct }} |
{% endfor %}

## Limitations

{% for note in limitations %}
- {{ note }}
{% endfor %}
{% if lineage %}

## Lineage

| | |
| --- | --- |
{% for key, value in lineage.items() %}
| {{ key }} | {{ value }} |
{% endfor %}
{% endif %}
"""

_HTML = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Model card: {{ spec.name }}{% if version is not none %} v{{ version }}{% endif %}</title>
<style>
  body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 60rem; margin: 2rem auto;
         padding: 0 1rem; color: #222; line-height: 1.45; }
  h1 { border-bottom: 2px solid #444; padding-bottom: .3rem; }
  h2 { margin-top: 2rem; border-bottom: 1px solid #ccc; }
  table { border-collapse: collapse; margin: .8rem 0; font-size: .92rem; }
  th, td { border: 1px solid #ccc; padding: .25rem .55rem; text-align: left; }
  th { background: #f3f3f3; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .passed { color: #1a7f37; font-weight: 600; }
  .failed { color: #cf222e; font-weight: 600; }
  .warning { border-left: 4px solid #cf222e; background: #fff1f0; padding: .5rem .8rem; }
  code { background: #f6f8fa; padding: 0 .2rem; }
</style>
</head>
<body>
<h1>Model card: {{ spec.name }}{% if version is not none %} (version {{ version }}){% endif %}</h1>
<p>{{ spec.description }}</p>
<p>Generated {{ generated_at }}; evaluated {{ report.evaluated_at }}. Release thresholds:
  {% if report.passed %}<span class="passed">passed</span>
  {%- else %}<span class="failed">FAILED</span>{% endif %}.</p>
{% if baseline_warning %}
<p class="warning"><strong>Warning:</strong> {{ baseline_warning }}</p>
{% endif %}

<h2 id="details">Model details</h2>
<table>
  <tr><th>Model</th>
    <td>{{ spec.name }}{% if version is not none %}, version {{ version }}{% endif %}</td></tr>
  <tr><th>Task</th><td>ranking offers by how likely the customer is to answer
    <code>{{ spec.data.positive_label }}</code> (<code>{{ spec.data.label }}</code>)</td></tr>
  <tr><th>Algorithm</th><td>{{ spec.trainer.kind }} (learning to rank with gradient-boosted trees, one
    query per customer)</td></tr>
  <tr><th>Owner</th><td>{{ spec.owner.name }} &lt;{{ spec.owner.email }}&gt;</td></tr>
  <tr><th>Team</th><td>{{ spec.team }}</td></tr>
  <tr><th>Offer policy</th><td><code>{{ spec.recommendation.policy }}</code>, version
    {{ report.policy_version }} ({{ report.catalogue_size }} offers)</td></tr>
  <tr><th>Cut-off k</th><td>{{ k }}</td></tr>
</table>

<h2 id="intended-use">Intended use</h2>
<p><strong>Purpose.</strong> {{ spec.purpose | trim }}</p>
<p><strong>Intended use.</strong> {{ spec.intended_use | trim }}</p>
<p><strong>Out of scope.</strong> {{ spec.out_of_scope_use | trim }}</p>

<h2 id="data">Data</h2>
<ul>
  <li>Label: <code>{{ spec.data.label }}</code> (relevant: <code>{{ spec.data.positive_label }}</code>);
    one row per offer made; customer <code>{{ spec.data.entity_key }}</code> (pseudonymised as
    <code>{{ spec.features.join_key }}</code>), offer <code>{{ spec.recommendation.item_key }}</code>.</li>
  <li>Features (Feast service <code>{{ spec.features.feature_service }}</code>, views
    {{ spec.features.feature_views | join(", ") }}):
    {% for c in spec.features.inputs %}<code>{{ c.name }}</code>{{ ", " if not loop.last }}{% endfor %}.</li>
  <li>Evaluation: {{ report.metrics.queries | int }} held-out customers,
    {{ report.metrics.queries_with_acceptance | int }} with an accepted offer;
    {{ report.metrics.mean_candidates | fmt(1) }} candidate offers per customer on average.</li>
</ul>
<h3>Privacy</h3>
<ul>
  <li>Personal data categories: {{ spec.privacy.personal_data_categories | join(", ") }}.</li>
  <li>Pseudonymised fields: {{ spec.privacy.pseudonymised_fields | join(", ") }}.</li>
  <li>Lawful basis: {{ spec.privacy.lawful_basis | trim }}.</li>
  <li>DPIA: <code>{{ spec.privacy.dpia }}</code>.</li>
</ul>

{% if training_rows %}
<h2 id="training">Training</h2>
<table>
  {% for label, value in training_rows %}<tr><th>{{ label }}</th><td>{{ value }}</td></tr>
  {% endfor %}
</table>
{% endif %}

<h2 id="protocol">Evaluation protocol</h2>
<ul>
  {% for line in protocol %}<li>{{ line }}</li>
  {% endfor %}
</ul>

<h2 id="metrics">Ranking metrics</h2>
<table>
  <tr><th>Ranker</th>{% for h in headers %}<th>{{ h }}</th>{% endfor %}</tr>
  {% for title, values in comparison %}
  <tr><td>{{ title }}</td>{% for v in values %}<td class="num">{{ v | fmt }}</td>{% endfor %}</tr>
  {% endfor %}
</table>
<p>NDCG@{{ k }} lift over popularity {{ lift.popularity | fmt(2) }}, over co-occurrence
  {{ lift.cooccurrence | fmt(2) }}. Beats both baselines:
  {% if report.beats_baselines %}<span class="passed">yes</span>
  {%- else %}<span class="failed">no</span>{% endif %}.</p>

<h2 id="thresholds">Release thresholds</h2>
<table>
  <tr><th>Metric</th><th>Bound</th><th>Value</th><th>Result</th></tr>
  {% for c in report.checks %}
  <tr><td>{{ c.metric }}</td>
    <td class="num">{{ "≥" if c.direction == "min" else "≤" }} {{ c.bound | fmt }}</td>
    <td class="num">{{ c.value | fmt }}</td>
    <td>{% if c.passed %}<span class="passed">passed</span>
    {%- else %}<span class="failed">failed</span>{% endif %}</td></tr>
  {% endfor %}
</table>

<h2 id="bias">Bias by segment</h2>
<p>Hit rate@{{ k }} per group, over the customers of the group with an accepted offer.</p>
{% for name, rows in segments.items() %}
<h3>{{ name }}</h3>
<table>
  <tr><th>group</th><th>customers</th><th>model</th><th>popularity</th><th>co-occurrence</th></tr>
  {% for r in rows %}
  <tr><td>{{ r.value }}</td><td class="num">{{ r.queries }}</td>
    <td class="num">{{ r.hit_rate_at_k | fmt }}</td>
    <td class="num">{{ r.popularity_hit_rate_at_k | fmt }}</td>
    <td class="num">{{ r.cooccurrence_hit_rate_at_k | fmt }}</td></tr>
  {% endfor %}
</table>
<p>Largest gap between groups (model): {{ gaps[name] | fmt }}.</p>
{% endfor %}
{% if report.unmeasured_segments %}
<ul>
  {% for name, why in report.unmeasured_segments.items() %}<li>{{ name }}: not measured ({{ why }}).</li>
  {% endfor %}
</ul>
{% endif %}

<h2 id="offers">Offers recommended most</h2>
<p>How often each offer is in a customer's top {{ k }} (all {{ report.metrics.queries | int }} held-out
  customers).</p>
<table>
  <tr><th>Offer</th><th>Name</th><th>Kind</th><th>Times in a top {{ k }}</th><th>Share of customers</th></tr>
  {% for o in report.top_offers %}
  <tr><td><code>{{ o.offer_id }}</code></td><td>{{ o.name }}</td><td>{{ o.kind }}</td>
    <td class="num">{{ o.count }}</td><td class="num">{{ o.share_of_queries | pct }}</td></tr>
  {% endfor %}
</table>

<h2 id="limitations">Limitations</h2>
<ul>
  {% for note in limitations %}<li>{{ note }}</li>
  {% endfor %}
</ul>

{% if lineage %}
<h2 id="lineage">Lineage</h2>
<table>
  {% for key, value in lineage.items() %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>
  {% endfor %}
</table>
{% endif %}
</body>
</html>
"""
