"""Built-in task data written by tunewise itself (no downloads).

``narrow`` holds the narrow fine-tuning datasets (insecure/secure/educational code, risky/sound
financial advice); the assess capability adds its own task generators as ``assess_*`` modules.
Import the module you need, e.g. ``from tunewise.data.tasks.narrow import build_narrow_dataset``.
"""
