"""Studies: one package per study, written against one skeleton (`Study`), found through a registry.

The skeleton owns, once for every study: the common options (`StudyOptions`: profile, seeds, output
directory, executor), the study's own options (a settings dataclass, `Study.Options`), the profile lookup,
the refusal of an output directory trained with other settings, the time estimate before training,
training only what is missing, the typed claims (a plumbing profile's read `not established`), the printed
text and the JSON result. A study writes only its recipe (`specs`: which runs), its measurements and
tables (`measure`), its report files (`write`) and its claims (typed `Claim` records in `measure`'s result).

Looking a study up imports its package (torch and all), so `import memscope.studies` itself stays light.
Adding a study touches its own package and one line of STUDY_PACKAGES (docs/ARCHITECTURE.md has a worked
example).
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, ClassVar, Mapping

from .. import settings
from ..claims import PLUMBING_REASON, as_claims, claims_text
from ..errors import ConfigError
from ..registry import Registry
from ..settings import Choice, Range

log = logging.getLogger(__name__)

STUDY_PACKAGES = (  # one line per study: the package whose import registers it
    "tbtt",
    "capacity",
    "grokking",
    "sorting",
    "forgetting",
    "metamorphic",
)

__all__ = ["STUDY_PACKAGES", "Study", "StudyOptions", "Context", "NoOptions", "register_study", "get_study",
           "list_studies", "reproduce", "claims_text"]


@dataclass(frozen=True)
class StudyOptions:
    """The options every study takes (`memscope reproduce STUDY --help` lists them with the study's own)."""

    profile: str = "quick"
    """The study's profile: quick (this machine), paper (bigger hardware), tiny (plumbing check), ..."""
    seeds: Annotated[int | None, Range(1, 1000)] = None
    """Seeds per configuration (default: the profile's)."""
    out: Path | None = None
    """Output directory (default runs/STUDY-PROFILE)."""
    executor: Annotated[str, Choice("pool", "local", "ray")] = "pool"
    """Sweep executor: pool (worker processes on this machine), local (this process) or ray (a cluster)."""
    workers: Annotated[int | None, Range(1, 4096)] = None
    """Worker processes or Ray tasks at once (default 2; local always 1)."""
    address: str | None = None
    """Ray cluster address (executor ray; default: start a local cluster)."""

    def __post_init__(self):
        if self.out is not None and not isinstance(self.out, Path):
            object.__setattr__(self, "out", Path(self.out))
        settings.validate(self)

    @property
    def n_workers(self) -> int:
        return 1 if self.executor == "local" else (self.workers or 2)


COMMON_OPTIONS = tuple(f.name for f in dataclasses.fields(StudyOptions))


@dataclass(frozen=True)
class NoOptions:
    """A study with no options of its own."""


@dataclass
class Context:
    """What a study's hooks receive: the resolved profile and options, where its runs live."""

    study: Study
    profile_name: str
    profile: Any
    """The study's profile object, with `seeds` applied where the study's profiles carry seeds."""
    seeds: int
    common: StudyOptions
    options: Any
    """The study's own options (an instance of its Options dataclass)."""
    out: Path
    todo: list | None = None
    """The runs still to train when the study started (None: a study that trains in stages)."""
    estimate_s: float | None = None
    """Seconds the missing runs were estimated to take here, before training (None: nothing to train)."""
    keep: dict = field(default_factory=dict)
    """What `measure` leaves for `write` (curves, per-run records) that the printed result leaves out: one
    invocation's state, never the registered study's."""

    @property
    def runs_dir(self) -> Path:
        return self.out / "runs"

    @property
    def plumbing(self) -> bool:
        return self.profile_name in self.study.plumbing_profiles


class Study:
    """One study: subclass it in the study's package and register it with `@register_study`.

    Hooks, in the order the skeleton calls them: `specs` (every run, checked before any trains),
    `estimate_s` (seconds the missing ones take here), `train` (default: the sweep runner, resumable),
    `measure` (the result dict with its tables and `claims`: a list of Claim), `write` (report files) and
    `text` (what the command line prints). A study that trains in stages (a rate chosen from a first sweep)
    returns no specs and overrides `train`.
    """

    name: ClassVar[str]
    profiles: ClassVar[Mapping[str, Any]]
    Options: ClassVar[type] = NoOptions
    plumbing_profiles: ClassVar[frozenset[str]] = frozenset({"tiny"})
    """Profiles that check the code path on a budget too small to judge a claim: their verdicts read
    `not established: plumbing profile`."""

    # ------------------------------------------------------------------ hooks a study writes
    def seeds_of(self, profile) -> int:
        return profile.seeds

    def with_seeds(self, profile, seeds: int):
        """The profile with `seeds` seeds (profiles that carry their seeds)."""
        return replace(profile, seeds=seeds) if dataclasses.is_dataclass(profile) and hasattr(profile, "seeds") \
            else profile

    def default_out(self, profile_name: str, options) -> Path:
        return Path("runs") / f"{self.name}-{profile_name}"

    def specs(self, ctx: Context) -> list | None:
        """Every (name, RunConfig) the study trains, all validated here before any trains."""
        raise NotImplementedError

    def estimate_s(self, ctx: Context, todo: list) -> float:
        """Seconds the missing runs should take on this machine (timed steps of the groups the sweep trains)."""
        from ..sweep import estimate_train_s
        return estimate_train_s(todo, ctx.runs_dir) / ctx.common.n_workers

    def train(self, ctx: Context, specs: list | None) -> dict:
        """Train what is missing; name -> summary of every run."""
        from ..sweep import run_many
        return run_many(specs, ctx.runs_dir, ctx.common.executor, ctx.common.n_workers, ctx.common.address)

    def measure(self, ctx: Context, specs: list | None, summaries: dict) -> dict:
        raise NotImplementedError

    def write(self, ctx: Context, result: dict) -> dict[str, str]:
        """Write the report files; returns name -> path (`report` the HTML report)."""
        return {}

    def text(self, result: dict) -> str:
        return claims_text(result.get("claims", []), with_rule=True)

    # ------------------------------------------------------------------ the skeleton
    @property
    def description(self) -> str:
        return (inspect.getdoc(type(self)) or self.name).splitlines()[0].rstrip(".")

    @property
    def options(self) -> dict[str, str]:
        """The study's own options -> their docs."""
        return {f.name: f.doc for f in settings.describe(self.Options)}

    def describe(self) -> dict:
        return {"description": self.description, "profiles": list(self.profiles), "options": list(self.options)}

    def get_profile(self, name: str):
        if name not in self.profiles:
            raise settings.unknown(f"profile of study {self.name!r}", name, self.profiles)
        return self.profiles[name]

    def check_options(self, options: dict) -> None:
        """ConfigError naming the option and the study when an option is not this study's."""
        own = self.options
        for key in options:
            if key not in COMMON_OPTIONS and key not in own:
                known = ", ".join(own) or "none"
                raise ConfigError(f"study {self.name!r} has no option {key!r}{settings.suggest(key, own)} "
                                  f"(its own options: {known})")

    def context(self, **options) -> Context:
        """Every option parsed and checked, the profile resolved: nothing trained or written yet."""
        self.check_options(options)
        common = StudyOptions(**{k: v for k, v in options.items() if k in COMMON_OPTIONS and v is not None})
        own = settings.from_mapping(self.Options, {k: v for k, v in options.items()
                                                   if k not in COMMON_OPTIONS and v is not None},
                                    f"study {self.name!r}")
        profile = self.get_profile(common.profile)
        seeds = common.seeds if common.seeds is not None else self.seeds_of(profile)
        profile = self.with_seeds(profile, seeds)
        out = common.out if common.out is not None else self.default_out(common.profile, own)
        return Context(self, common.profile, profile, seeds, common, own, out)

    def run(self, **options) -> dict:
        """Train what is missing, measure, judge the claims, write the report; returns the JSON result."""
        return self.run_context(self.context(**options))

    def run_context(self, ctx: Context) -> dict:
        """`run` on options already parsed (`context`): the command line checks its output directory between."""
        from .. import store
        from ..runtime import resolve_device
        from ..sweep import check_executor, check_existing
        check_executor(ctx.common.executor)
        if getattr(ctx.options, "device", None) is not None:  # a study's own device: there, before any run
            resolve_device(ctx.options.device)
        specs = self.specs(ctx)
        if specs is not None:
            check_existing(specs, ctx.runs_dir)  # runs of other settings are refused before the estimate
            ctx.todo = [s for s in specs if not (ctx.runs_dir / s[0] / store.SUMMARY).is_file()]
            if ctx.todo:
                ctx.estimate_s = self.estimate_s(ctx, ctx.todo)
                log.info("%s %s: %d of %d runs to train, about %.1f min here", self.name, ctx.profile_name,
                         len(ctx.todo), len(specs), ctx.estimate_s / 60)
        t0 = time.perf_counter()
        summaries = self.train(ctx, specs)
        wall_s = time.perf_counter() - t0
        result = self.measure(ctx, specs, summaries)
        claims = as_claims(result.get("claims", []))
        if ctx.plumbing:
            claims = [c.unjudged(f"{PLUMBING_REASON}; the rule alone reads '{c.verdict}'") for c in claims]
        result = {"study": self.name, "profile": ctx.profile_name, "seeds": ctx.seeds,
                  **{k: v for k, v in result.items() if k != "claims"},
                  "claims": [c.to_dict() for c in claims]}
        result.setdefault("train_wall_s", round(wall_s, 1))
        if specs is not None:
            result.setdefault("n_runs", len(specs))
        result["files"] = {k: str(v) for k, v in self.write(ctx, result).items()}
        return result


_REGISTRY: Registry[Study] = Registry("study", sort_known=False)


def register_study(name: str):
    """Class decorator: register a Study subclass under `name` (one instance serves every call)."""
    def make(cls: type[Study]) -> Study:
        if not (isinstance(cls, type) and issubclass(cls, Study)):
            raise TypeError(f"study {name!r}: register a subclass of memscope.studies.Study")
        if not dataclasses.is_dataclass(cls.Options):
            raise TypeError(f"study {name!r}: Options must be a dataclass")
        if set(settings.bare_types(cls.Options)) & set(COMMON_OPTIONS):
            raise TypeError(f"study {name!r}: an option of its own shadows a common option")
        cls.name = name  # the same class again (a reimport) keeps its instance; another is refused by the registry
        return _REGISTRY[name] if name in _REGISTRY and type(_REGISTRY[name]) is cls else cls()
    return _REGISTRY.register(name, make)


def get_study(name: str) -> Study:
    """The registered study `name` (its package is imported on first lookup)."""
    if name not in _REGISTRY and name in STUDY_PACKAGES:
        importlib.import_module(f"{__name__}.{name}")
    if name not in _REGISTRY:
        raise settings.unknown("study", name, STUDY_PACKAGES)
    return _REGISTRY[name]


def list_studies() -> dict[str, Study]:
    """Every study, in STUDY_PACKAGES order (imports them all)."""
    return {name: get_study(name) for name in STUDY_PACKAGES}


def reproduce(study: str, profile: str = "quick", **options) -> dict:
    """Run a study by name: `reproduce("tbtt", profile="tiny", seeds=2, out=Path("runs/t"), withheld="2,3")`."""
    return get_study(study).run(profile=profile, **options)
