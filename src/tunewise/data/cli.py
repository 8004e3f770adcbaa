"""``tunewise validate FILE.jsonl``."""

from __future__ import annotations

import typer

from tunewise.progress import console


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)


def validate(
    path: str = typer.Argument(..., help="chat JSONL file"),
    model: str = typer.Option(None, help="model reference whose tokenizer measures example length"),
    max_tokens: int = typer.Option(2048, help="warn about examples longer than this (needs --model)"),
) -> None:
    """Check a chat JSONL file: one line per problem (file:line: field: message); exit 1 on errors."""
    from tunewise.data.chat import validate_chat_jsonl

    tokenizer = None
    if model:
        from transformers import AutoTokenizer

        from tunewise.models.loading import model_folder
        from tunewise.models.refs import parse_model_ref

        tokenizer = AutoTokenizer.from_pretrained(model_folder(parse_model_ref(model).without_lora()))
    report = validate_chat_jsonl(path, tokenizer=tokenizer, max_tokens=max_tokens if tokenizer else None)
    for problem in report.problems:
        # Plain print: one unwrapped line per problem, easy to grep and to jump to in an editor.
        print(f"{problem} ({problem.severity})" if problem.severity == "warning" else str(problem))
    summary = f"{len(report.examples)} valid example(s), {len(report.errors)} error(s), {len(report.warnings)} warning(s)"
    console.print(summary)
    if report.errors:
        raise typer.Exit(1)
