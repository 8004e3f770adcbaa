"""assess: does prompting already solve the task? Prompting strategies vs a LoRA fine-tune.

Python API (the CLI ``tunewise assess`` is a thin wrapper)::

    from tunewise.assess import AssessConfig, run_assess
    result = run_assess(AssessConfig(task="dates", models=["packaged:qwen2.5-coder-0.5b-instruct"]),
                        "runs/assess-dates")
    print(result.recommendation.sentence)

Pieces usable on their own: ``load_task`` / ``split_items`` (task spec and seeded split),
``plan_run`` / ``plan_curve`` / ``derive_description`` (what the data supports, checked before
any model call),
``build_scorer`` / ``MetricSpec`` (metrics), ``parse_strategy`` / ``build_prompts`` (prompt
construction), ``generate_with_prefix_cache`` (KV prefix reuse on the hf backend),
``wilson_interval``, ``load_prices`` / ``cost_per_1k``, ``recommend``, and the built-in tasks
(``BUILTIN_TASKS``, ``builtin_examples``).
"""

from tunewise.assess.config import AssessConfig, TrainOptions
from tunewise.assess.metrics import MetricSpec, build_scorer, metric_names, register_metric
from tunewise.assess.plan import Plan, Skipped, derive_description, plan_curve, plan_run
from tunewise.assess.prices import cost_per_1k, load_prices, price_for
from tunewise.assess.recommend import RULE, Recommendation, recommend
from tunewise.assess.strategies import DEFAULT_STRATEGIES, Strategy, build_prompts, parse_strategy
from tunewise.assess.task import Task, TaskItem, load_task, split_items
from tunewise.assess.tasks import BUILTIN_TASKS, builtin_examples
from tunewise.stats import accuracy_with_ci, wilson_interval

#: names whose modules import torch (the runner evaluates through the prefix cache): loaded on
#: first use, so ``tunewise --help`` (which reads AssessConfig for the flags) stays fast.
_LAZY = {"AssessResult": "tunewise.assess.runner", "run_assess": "tunewise.assess.runner",
         "upgrade_view": "tunewise.assess.runner", "common_prefix_length": "tunewise.models.prefix_cache",
         "generate_with_prefix_cache": "tunewise.models.prefix_cache"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tunewise.assess' has no attribute {name!r}")


__all__ = ["AssessConfig", "TrainOptions", "AssessResult", "run_assess", "upgrade_view", "MetricSpec",
           "build_scorer", "metric_names", "register_metric", "common_prefix_length", "generate_with_prefix_cache",
           "cost_per_1k", "load_prices", "price_for", "RULE", "Recommendation", "recommend", "accuracy_with_ci",
           "wilson_interval", "DEFAULT_STRATEGIES", "Strategy", "build_prompts", "parse_strategy", "Task", "TaskItem",
           "load_task", "split_items", "BUILTIN_TASKS", "builtin_examples", "Plan", "Skipped", "plan_run", "plan_curve",
           "derive_description"]
