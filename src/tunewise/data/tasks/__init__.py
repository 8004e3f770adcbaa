"""Built-in task data written by tunewise itself (no downloads).

``narrow`` holds the narrow fine-tuning datasets (insecure/secure/educational code from
``narrow_code``; subtly harmful advice and its benign twin, built by ``advice`` from
``narrow_financial``, ``narrow_medical`` and ``narrow_sports``); the assess capability adds its
own task generators as ``assess_*`` modules.
Import the module you need, e.g. ``from tunewise.data.tasks.narrow import build_narrow_dataset``.
"""

import pkgutil

from tunewise.registry import TASKS

# Every ``assess_<name>.py`` generator here is a built-in assess task, registered by its name (the
# module is imported only when the task is used).
for _module in pkgutil.iter_modules(__path__):
    if _module.name.startswith("assess_"):
        TASKS.register(_module.name.removeprefix("assess_"), f"{__name__}.{_module.name}")
