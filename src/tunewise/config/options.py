"""Command-line flags generated from a config model, and the one YAML + flags merger.

``@config_command(AuditConfig)`` turns every field of the model into a typer option named after
the field (``lora_rank`` -> ``--lora-rank``, also accepted as ``--lora_rank``), with the field's
description as help and its default shown; the command body receives the validated model. No
flag is typed by hand, so the CLI cannot drift from the Python API or the experiment file
(tests/test_config_guard.py checks that for every field).

Values: scalars are typed flags; booleans are ``--x/--no-x``; lists of scalars repeat the flag
or take a comma list (``--traits evil,deceptive``); mappings of scalars repeat ``KEY=VALUE``
(``--adapters plain=runs/x/adapters/plain``); anything else (a mapping, a nested model, a
list-or-name union) is YAML text (``--metric '{name: regex, pattern: "(\\d+)"}'``).
Precedence: field default < ``--config FILE`` (fields at top level or under the capability's
section, so an experiment file works too) < flags given on the command line.
"""

from __future__ import annotations

import functools
import inspect
import json
import types
import typing
from pathlib import Path
from typing import Any, Callable, Literal, Optional, Union

import typer
import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from tunewise.config.problems import raise_config_error
from tunewise.config.yaml_source import read_yaml
from tunewise.errors import ConfigError

#: keys an experiment.yaml section may hold that steer the pipeline rather than the capability
#: (see tunewise.pipeline.sections); a capability reading its section from an experiment file skips them.
EXPERIMENT_ONLY_KEYS = {"enabled", "when", "variants", "with_inoculation_prompt"}
RUN_DIR_HELP = "run folder (tunewise.sqlite and every artefact of the run; resumes if it exists)"
SCALARS = (str, int, float)


def _strip_optional(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _flag_kind(annotation: Any) -> tuple[str, Any]:
    """("bool" | "scalar" | "list" | "yaml", python type for typer)."""
    annotation = _strip_optional(annotation)
    if annotation is bool:
        return "bool", bool
    if annotation in SCALARS:
        return "scalar", annotation
    origin = typing.get_origin(annotation)
    if origin is Literal and all(isinstance(a, str) for a in typing.get_args(annotation)):
        return "scalar", str
    if origin is list and all(a in SCALARS for a in typing.get_args(annotation)):
        return "list", str
    if origin is dict and all(a in SCALARS for a in typing.get_args(annotation)):
        return "mapping", str  # repeat KEY=VALUE (or a comma list of them)
    return "yaml", str


def flag_names(name: str, field: FieldInfo) -> list[str]:
    """Every spelling of a field's flag: ``--kebab-case``, ``--snake_case``, and its aliases."""
    names = [f"--{name.replace('_', '-')}"]
    if "_" in name:
        names.append(f"--{name}")
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    names += list(extra.get("flag_aliases", []))
    return names


def flag_default_text(field: FieldInfo) -> str:
    """The default as the help text shows it (the guard test compares it with the field's)."""
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", exclude_defaults=True)
    if isinstance(value, list):
        value = [v.model_dump(mode="json", exclude_defaults=True) if isinstance(v, BaseModel) else v for v in value]
    if value is None:
        return "none"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _help(field: FieldInfo, kind: str, annotation: Any) -> str:
    text = field.description or ""
    stripped = _strip_optional(annotation)
    if typing.get_origin(stripped) is Literal:
        text += f" (one of: {', '.join(map(str, typing.get_args(stripped)))})"
    elif kind == "list":
        text += " (repeat, or a comma list)"
    elif kind == "mapping":
        text += " (KEY=VALUE; repeat, or a comma list)"
    elif kind == "yaml":
        text += " (YAML text)"
    return text.strip()


def _field_parameters(model: type[BaseModel], exclude: set[str]) -> list[inspect.Parameter]:
    params = []
    for name, field in model.model_fields.items():
        if name in exclude:
            continue
        kind, python_type = _flag_kind(field.annotation)
        decls = flag_names(name, field)
        if kind == "bool":
            decls = [f"{decls[0]}/--no-{name.replace('_', '-')}", *decls[1:]]
        annotation = Optional[list[python_type]] if kind in ("list", "mapping") else Optional[python_type]
        option = typer.Option(None, *decls, help=_help(field, kind, field.annotation),
                              show_default=flag_default_text(field))
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation))
    return params


def _flag_value(model: type[BaseModel], name: str, value: Any) -> Any:
    """Turn a flag's text into the value pydantic validates (YAML text and comma lists)."""
    kind, _ = _flag_kind(model.model_fields[name].annotation)
    if kind == "list":
        return [part.strip() for item in value for part in str(item).split(",") if part.strip()]
    if kind == "mapping":
        pairs = [part.strip() for item in value for part in str(item).split(",") if part.strip()]
        flag = flag_names(name, model.model_fields[name])[0]
        mapping = {}
        for pair in pairs:
            key, sep, item = pair.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"{flag}: {pair!r}: expected KEY=VALUE")
            if key.strip() in mapping:
                raise ConfigError(f"{flag}: {key.strip()!r} given twice")
            mapping[key.strip()] = item.strip()
        return mapping
    if kind != "yaml":
        return value
    annotation = _strip_optional(model.model_fields[name].annotation)
    members = (annotation, *typing.get_args(annotation))
    accepts_text = any(m is str or typing.get_origin(m) is Literal for m in members) or any(
        isinstance(m, type) and issubclass(m, BaseModel) for m in members)  # nested models take a plain string too
    accepts_list = any(typing.get_origin(a) is list for a in members)
    if accepts_text and not value.lstrip().startswith(("{", "[")):
        # Plain text stays text ("[INST] ...", "# heading", "a: b" in a prompt); a comma list
        # becomes a list where the field takes one. Mappings and lists are written in YAML flow style.
        if accepts_list and "," in value:
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        if accepts_text:
            return value  # "[INST] say hi" is text that merely starts like a list
        raise ConfigError(f"{flag_names(name, model.model_fields[name])[0]}: not valid YAML text: "
                          f"{getattr(exc, 'problem', exc)}") from None
    if accepts_list and isinstance(parsed, str) and "," in parsed:
        return [part.strip() for part in parsed.split(",") if part.strip()]
    return parsed


def load_config(model: type[BaseModel], config_file: str | Path | None = None, flags: dict[str, Any] | None = None,
                defaults: dict[str, Any] | None = None):
    """The validated model from ``defaults`` (e.g. another command's context), a YAML file and
    the flags given (non-None values win). Errors name the file line or the flag."""
    values: dict[str, Any] = dict(defaults or {})
    lines: dict[tuple, int] = {}
    prefix: tuple = ()
    source = "command line"
    if config_file is not None:
        document = read_yaml(config_file)
        data = document.data if document.data is not None else {}
        section = getattr(model, "section", "")
        if isinstance(data, dict) and section and isinstance(data.get(section), dict):
            data, prefix = data[section], (section,)
            data = {k: v for k, v in data.items() if k not in EXPERIMENT_ONLY_KEYS or k in model.model_fields}
        if not isinstance(data, dict):
            raise ConfigError(f"{document.source}:1: expected a mapping of {model.__name__} fields")
        odd = next((key for key in data if not isinstance(key, str)), None)
        if odd is not None or None in data:
            raise ConfigError(f"{document.source}:1: {odd!r}: keys are field names of {model.__name__}")
        values.update(data)
        lines, source = document.lines, document.source
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    values.update(given)
    try:
        return model(**values)
    except ValidationError as exc:
        flag_map = {name: flag_names(name, model.model_fields[name])[0] for name in given}
        for item in exc.errors():  # a required field nobody gave: say which flag gives it
            if item["type"] == "missing" and config_file is None and len(item["loc"]) == 1:
                flag_map.setdefault(str(item["loc"][0]), flag_names(str(item["loc"][0]),
                                                                    model.model_fields[str(item["loc"][0])])[0])
        raise_config_error(exc, source, model, lines=lines, prefix=prefix, flags=flag_map)


def config_command(model: type[BaseModel], exclude: tuple[str, ...] = ()) -> Callable:
    """Decorate ``command(config: Model, **other_options)``: the result is a typer command whose
    options are the model's fields (plus ``--config FILE``) followed by the command's own."""
    excluded = set(exclude)

    def decorator(func: Callable) -> Callable:
        own = list(inspect.signature(func).parameters.values())[1:]
        try:
            hints = typing.get_type_hints(func)
        except NameError:  # the config parameter's annotation names a class local to the caller
            hints = {}
        field_params = _field_parameters(model, excluded)
        config_param = inspect.Parameter(
            "config_file", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[Path],
            default=typer.Option(None, "--config", help=f"YAML file of {model.__name__} fields (top level or under "
                                                        f"`{getattr(model, 'section', '') or 'its section'}:`); "
                                                        "flags override it"))
        own_params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints.get(p.name, p.annotation))
                      for p in own]

        @functools.wraps(func)
        def command(**kwargs):
            config_file = kwargs.pop("config_file", None)
            flags = {name: _flag_value(model, name, kwargs.pop(name)) for name in list(kwargs)
                     if name in model.model_fields and name not in excluded and kwargs[name] is not None}
            for name in list(kwargs):
                if name in model.model_fields and name not in excluded:
                    kwargs.pop(name)
            return func(load_config(model, config_file, flags), **kwargs)

        params = field_params + [config_param] + own_params
        command.__signature__ = inspect.Signature(params)
        command.__annotations__ = {p.name: p.annotation for p in params}
        del command.__wrapped__  # typer must see the generated signature, not func's
        command.__config_model__ = model  # read by the guard test (tests/test_config_guard.py)
        command.__config_excluded__ = frozenset(excluded)
        return command
    return decorator
