"""The scoring an environment runs (its champion and its shadows), for the score-stage benchmarks and the cost model.

The settings come from ``stacks.config.runtime_environment`` (what the stacks give the score function),
so a benchmark scores with exactly the models an environment deploys: dev and staging an XGBoost champion
with a logistic shadow, prod the reverse (``cdk.json`` -> ``scoring``). Figures that depend on it carry
:attr:`Scoring.label` in their name, and the cost model picks each environment's figure by that label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from risk.common import settings
from risk.events.model import RiskEvent
from risk.score.model import ScoredEvent
from risk.score.scorers import load_scorer
from risk.score.scorers.base import Scorer
from risk.score.scorers.shadow import ShadowScorer, load_shadows, parse_shadows, with_shadows
from risk.score.service import score_events
from risk.score.store import StateStore

if TYPE_CHECKING:
    from stacks.config import EnvironmentConfig

# The settings that choose the models; the rest of the function's environment does not change the scores.
SCORING_SETTINGS = (
    settings.SCORER,
    settings.MODEL_FILE,
    settings.MEDIUM_THRESHOLD,
    settings.HIGH_THRESHOLD,
    settings.SHADOW_SCORERS,
)
_PLACEHOLDERS = {settings.SCORED_QUEUE_URL: "bench", settings.STATE_TABLE: "bench", settings.ARCHIVE_BUCKET: "bench"}


@dataclass(frozen=True)
class Scoring:
    """The score function's model settings in one environment."""

    environ: tuple[tuple[str, str], ...]  # (setting, value), sorted

    @property
    def label(self) -> str:
        """``xgboost xgb-v2.json + shadow logistic lr-v1.json``: how figures measured with it are named."""
        env = dict(self.environ)
        champion = f"{env[settings.SCORER]} {env.get(settings.MODEL_FILE, '')}".strip()
        shadows = parse_shadows(env.get(settings.SHADOW_SCORERS, ""))
        return " + ".join([champion, *(f"shadow {kind} {model}" for kind, model in shadows)])

    def stage(self) -> ScoreStage:
        env = dict(self.environ)
        if env[settings.SCORER] == "sagemaker":
            raise ValueError(f"{self.label}: a SageMaker champion is scored by its endpoint; no local CPU to measure")
        return ScoreStage(load_scorer(env), load_shadows(env))


@dataclass(frozen=True)
class ScoreStage:
    """What the score function does to a batch after parsing: state, features, champion, then the shadows."""

    scorer: Scorer
    shadows: tuple[ShadowScorer, ...]

    def score(self, store: StateStore, events: Sequence[RiskEvent]) -> list[ScoredEvent]:
        scored = with_shadows(self.shadows, score_events(store, self.scorer, events).scored)
        return [s for s in scored if s is not None]


def of_config(cfg: EnvironmentConfig) -> Scoring:
    """The scoring an environment's config deploys: the score function's own settings, as the stacks set them."""
    from stacks.config import runtime_environment  # noqa: PLC0415 (aws-free, but only the tools need it)

    values = runtime_environment(cfg, "score", _PLACEHOLDERS)
    # A SageMaker shadow (staging's) scores on its endpoint, not on the function's CPU: it is measured out,
    # and costed by the cost model's own "SageMaker endpoint" line.
    local = [f"{kind}:{model}" for kind, model in parse_shadows(values.get(settings.SHADOW_SCORERS, ""))]
    values[settings.SHADOW_SCORERS] = ",".join(x for x in local if not x.startswith("sagemaker:"))
    return Scoring(tuple(sorted((k, v) for k, v in values.items() if k in SCORING_SETTINGS and v)))


@cache
def of_environment(env: str) -> Scoring:
    """The scoring ``env`` deploys, from ``cdk.json``."""
    from stacks.config import load_environment  # noqa: PLC0415

    return of_config(load_environment(env))


def configured(envs: Sequence[str] | None = None) -> dict[str, Scoring]:
    """Each distinct scoring among the environments (default: all), by label, in environment order."""
    from stacks.config import ENVIRONMENT_NAMES  # noqa: PLC0415

    out: dict[str, Scoring] = {}
    for env in envs or ENVIRONMENT_NAMES:
        s = of_environment(env)
        out.setdefault(s.label, s)
    return out


def default() -> Scoring:
    """dev's scoring: what the benchmarks that are not measured per environment use."""
    return of_environment("dev")
