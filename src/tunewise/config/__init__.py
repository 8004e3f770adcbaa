"""The one shape every capability's settings take.

Each capability declares one pydantic model (``AssessConfig``, ``TrainConfig``, ``AuditConfig``,
``PersonaConfig``, ``GateConfig``, ``ServeConfig``, ``ReportConfig``) deriving from
``CapabilityConfig``. That model is the only place a setting, its default and its help text are
written (as in TRL's ``SFTConfig``): ``config_command`` turns its fields into the command's
flags, ``load_config`` reads it from YAML (top level or under the capability's section) plus
flags, and the experiment file's section for the capability *is* the model (plus ``enabled``).
Every validation error is printed one way: ``file:line: field: message`` with a did-you-mean.
"""

from tunewise.config.base import CapabilityConfig, StrictNumbers
from tunewise.config.describe import describe_fields
from tunewise.config.options import RUN_DIR_HELP, config_command, flag_default_text, flag_names, load_config
from tunewise.config.problems import format_problems, raise_config_error
from tunewise.config.yaml_source import YamlDocument, parse_yaml, read_text_file, read_yaml

__all__ = ["CapabilityConfig", "StrictNumbers", "describe_fields", "config_command", "flag_default_text", "flag_names",
           "load_config", "RUN_DIR_HELP", "format_problems", "raise_config_error", "YamlDocument", "parse_yaml",
           "read_text_file", "read_yaml"]
