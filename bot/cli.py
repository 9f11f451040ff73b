"""The `legalbot` command (PRODUCT.md's command-line contract)."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import typer

from bot import redact
from bot.settings import get_settings

app = typer.Typer(help="legalbot: a public legal service assistant.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
nlu_app = typer.Typer(help="Intent classification: validate, train, test.", no_args_is_help=True)
kb_app = typer.Typer(help="Knowledge base: validate, build, evaluate.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
lawyer_app = typer.Typer(help="Lawyer accounts for the console.", no_args_is_help=True)
sessions_app = typer.Typer(help="Lawyers' console sessions.", no_args_is_help=True)
legal_aid_app = typer.Typer(help="Legal aid: screen applications, check the hardship standards.", no_args_is_help=True)
city_app = typer.Typer(help="The bureau's city file: districts, offices, service centres.", no_args_is_help=True)
wechat_app = typer.Typer(help="The WeChat Official Account.", no_args_is_help=True)
lawyer_app.add_typer(sessions_app, name="sessions")
app.add_typer(nlu_app, name="nlu")
app.add_typer(kb_app, name="kb")
app.add_typer(db_app, name="db")
app.add_typer(lawyer_app, name="lawyer")
app.add_typer(legal_aid_app, name="legal-aid")
app.add_typer(city_app, name="city")
app.add_typer(wechat_app, name="wechat")

log = logging.getLogger("legalbot")


def _fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _lines(texts: list[str] | None) -> Iterator[str]:
    if texts:
        yield from texts
        return
    for line in sys.stdin:
        line = line.rstrip("\n")
        if line.strip():
            yield line


def _runtime(build: bool = False):  # type: ignore[no-untyped-def]
    from bot.runtime import build_runtime, ensure_built

    settings = get_settings()
    if build:
        ensure_built(settings)
    return build_runtime(settings)


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages.")) -> None:
    redact.install(logging.DEBUG if verbose else logging.INFO)


@app.command()
def serve(host: str | None = typer.Option(None), port: int | None = typer.Option(None)) -> None:
    """Web chat, lawyer console and webhooks; trains and builds whatever is missing first."""
    import uvicorn

    from bot.app import create_app
    from handoff.auth import has_lawyers

    os.umask(0o077)  # whatever the server writes (database, WAL, secrets, models) is its owner's alone
    runtime = _runtime(build=True)
    settings = runtime.settings
    if not has_lawyers(runtime.store):
        _bootstrap_admin(runtime)
    level = logging.getLogger().getEffectiveLevel()
    # uvicorn's own loggers (access lines, "Exception in ASGI application") get the redacting handler too.
    uvicorn.run(create_app(runtime), host=host or settings.host, port=port or settings.port,
                log_config=redact.log_config(level), log_level=logging.getLevelName(level).lower(),
                proxy_headers=False)  # the app believes LEGALBOT_TRUSTED_PROXIES, not uvicorn's own default


def _bootstrap_admin(runtime) -> None:  # type: ignore[no-untyped-def]
    """First start: create an admin with a random password, written to a file only its owner can read."""
    import secrets

    from sqlalchemy.exc import IntegrityError

    from handoff.auth import AccountError, create_lawyer

    password = secrets.token_urlsafe(12)
    try:
        create_lawyer(runtime.store, "admin", password, display_name="管理员", role="admin")
    except (IntegrityError, AccountError):  # another worker starting at the same moment created it
        return
    path = Path(runtime.settings.data_dir) / "admin-password.txt"
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:  # never readable by others
        out.write(f"username: admin\npassword: {password}\n")
    log.info("created console account 'admin'; its password is in %s", path)


@app.command()
def chat(user: str | None = typer.Option(None, help="Citizen id to continue a conversation."),
         lang: str | None = typer.Option(None, help="zh or en")) -> None:
    """Talk to the bot in the terminal."""
    from bot.channels import terminal

    terminal.run(_runtime(build=True).engine, user_id=user, language=lang)


@app.command()
def classify(texts: list[str] | None = typer.Argument(None), as_json: bool = typer.Option(False, "--json")) -> None:
    """Classify each text (arguments, or one per stdin line)."""
    from bot.runtime import build_runtime, ensure_built
    from nlu.backend import NLUUnavailable

    settings = get_settings()
    ensure_built(settings, progress=False)
    runtime = build_runtime(settings, upgrade=False)
    classifier = runtime.engine.classifier
    for text in _lines(texts):
        try:
            result = classifier.classify(text).contract()
        except NLUUnavailable as exc:
            _fail(str(exc))
        if as_json:
            typer.echo(json.dumps(result, ensure_ascii=False))
        else:
            typer.echo(f"{result['service']}\t{result['topic']}\t{result['act']}\turgent={result['urgent']}\t{text}")


@app.command()
def ask(texts: list[str] | None = typer.Argument(None), as_json: bool = typer.Option(False, "--json")) -> None:
    """The full decision for each question, without storing anything."""
    from bot.runtime import build_runtime, ensure_built

    settings = get_settings()
    ensure_built(settings, progress=False)
    runtime = build_runtime(settings, upgrade=False)
    for text in _lines(texts):
        result = runtime.engine.decide(text).contract()
        if as_json:
            typer.echo(json.dumps(result, ensure_ascii=False))
        else:
            typer.echo(f"[{result['action']}] {result['faq_id'] or '-'} {result['score']}\n{result['answer'] or ''}\n")


@app.command()
def sweep() -> None:
    """Close idle conversations now (the server also does this every minute)."""
    closed = _runtime().engine.sweep()
    typer.echo(f"closed {len(closed)} idle conversations")


# ---- legal aid ------------------------------------------------------------------------------------

def _standards():  # type: ignore[no-untyped-def]
    """The hardship standards, for the districts of the city file."""
    from services.city import CityError, load_city
    from services.legal_aid import ScreenError, load_standards

    settings = get_settings()
    try:
        return load_standards(settings.legal_aid_standards_file, load_city(settings.city_file).districts)
    except (CityError, ScreenError) as exc:
        _fail(str(exc))
        raise typer.Exit(1) from None


@legal_aid_app.command("screen")
def legal_aid_screen(as_json: bool = typer.Option(False, "--json")) -> None:
    """Pre-screen applications, one JSON object per stdin line: {"matter", "district", "household_size",
    "household_monthly_income", "circumstances"}. A line that cannot be read gets {"error": ...}."""
    from services.legal_aid import ScreenError, screen

    standards = _standards()
    failed = False
    for n, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            result = screen(json.loads(line), standards).as_dict()
        except (ValueError, ScreenError) as exc:  # json's errors are ValueErrors
            failed = True
            message = f"line {n}: {exc}"
            if as_json:
                typer.echo(json.dumps({"error": message}, ensure_ascii=False))
            else:
                _fail(message)
            continue
        if as_json:
            typer.echo(json.dumps(result, ensure_ascii=False))
        else:
            typer.echo(f"{result['result']}: " + "；".join(result["reasons"]))
    if failed:
        raise typer.Exit(1)


@legal_aid_app.command("validate")
def legal_aid_validate() -> None:
    """Check the economic hardship standards file (LEGALBOT_LEGAL_AID_STANDARDS_FILE)."""
    standards = _standards()
    typer.echo(f"{get_settings().legal_aid_standards_file}: {len(standards.items)} standards, "
               f"{len(standards.districts)} districts: ok")


# ---- the city ---------------------------------------------------------------------------------------

@city_app.command("validate")
def city_validate(file: Path | None = typer.Option(None, "--file", help="Default: LEGALBOT_CITY_FILE.")) -> None:
    """Check the city file, and that it has what the forms and the legal-aid standards need."""
    from services.city import CityError, Level, OfficeKind, check_against, load_city
    from services.forms import FormError, load_forms

    settings = get_settings()
    path = file or settings.city_file
    try:
        city = load_city(path)
        problems = check_against(city, load_forms(), settings.legal_aid_standards_file)
    except CityError as exc:
        problems = exc.problems
    except FormError as exc:
        problems = [f"{path.name}: forms: {exc}"]
    if problems:
        for problem in problems:
            typer.secho(problem, fg=typer.colors.RED)
        typer.echo(f"{path}: {len(problems)} problem(s)")
        raise typer.Exit(1)
    typer.echo(f"{path}: {city.name}" + ("  (EXAMPLE city: placeholder names, addresses and phone numbers)"
                                        if city.example else ""))
    typer.echo(f"districts: {len(city.districts)}: "
               + ", ".join(f"{d} ({len(city.streets(d))} streets)" for d in city.districts))
    typer.echo("offices: " + ", ".join(f"{kind} {len(city.offices_of(kind))}" for kind in OfficeKind
                                      if city.offices_of(kind)))
    typer.echo("centres: " + ", ".join(f"{level} {n}" for level in Level
                                      if (n := sum(c.level is level for c in city.centres))))
    bookable = [c for c in city.centres if c.bookable]
    typer.echo(f"bookable: {len(bookable)}" + (": " + ", ".join(c.id for c in bookable) if bookable else ""))
    typer.echo("ok")


# ---- wechat -----------------------------------------------------------------------------------------

def _wechat_client(settings):  # type: ignore[no-untyped-def]
    """wechatpy's client for the configured account (tests replace it with a fake)."""
    from bot.channels.wechat.api import APIClient

    return APIClient(settings.wechat_app_id, settings.wechat_app_secret, settings.wechat_api_base)


@wechat_app.command("menu")
def wechat_menu(show: bool = typer.Option(False, "--show", help="Print the menu as JSON; publish nothing.")) -> None:
    """Publish the services menu as the Official Account's custom menu (replaces the current one)."""
    import requests
    from wechatpy.exceptions import WeChatClientException

    from bot.channels.wechat.menu import menu, problems, publish

    data = menu()
    if show:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        wrong = problems(data)
        if wrong:
            _fail("; ".join(wrong))
        return
    settings = get_settings()
    if not settings.wechat_app_id or not settings.wechat_app_secret:
        _fail("set LEGALBOT_WECHAT_APP_ID and LEGALBOT_WECHAT_APP_SECRET to publish the menu")
    client = _wechat_client(settings)
    try:
        publish(client, data)
    except WeChatClientException as exc:
        _fail(f"WeChat refused the menu ({exc.errcode}): {exc.errmsg}")
    except requests.RequestException as exc:
        _fail(f"cannot reach the WeChat API ({type(exc).__name__})")
    except ValueError as exc:
        _fail(str(exc))
    finally:
        close = getattr(client, "close", None)
        if close is not None:
            close()
    typer.echo("published the menu: " + " | ".join(
        item["name"] + (" ▸ " + "/".join(sub["name"] for sub in item["sub_button"]) if "sub_button" in item else "")
        for item in data["button"]))


# ---- nlu ------------------------------------------------------------------------------------------

@nlu_app.command("validate")
def nlu_validate(min_examples: int = typer.Option(10, help="Warn below this many examples per label.")) -> None:
    """Duplicates, one example under two labels, labels with too few examples, unknown slugs."""
    from nlu.data import TrainingDataError, load_training_data
    from nlu.validate import validate

    folder = get_settings().training_data_dir
    typer.echo(f"reading training data from {folder}")
    try:
        examples = load_training_data(folder)
    except TrainingDataError as exc:
        _fail(str(exc))
    report = validate(examples, min_examples=min_examples)
    for problem in report.errors:
        typer.secho(f"error: {problem}", fg=typer.colors.RED)
    for problem in report.warnings:
        typer.secho(f"warning: {problem}", fg=typer.colors.YELLOW)
    typer.echo(f"{len(examples)} examples, {len(report.errors)} errors, {len(report.warnings)} warnings")
    if report.errors:
        raise typer.Exit(1)


@nlu_app.command("train")
def nlu_train(folds: int = typer.Option(5, help="Cross-validation folds for the promotion check (0 skips it)."),
              force: bool = typer.Option(False, "--force", help="Promote even if a metric got worse.")) -> None:
    """Train the built-in NLU from training_data/, measure it, and promote it unless it is worse."""
    from bot.runtime import train_nlu
    from nlu.data import TrainingDataError

    try:
        result = train_nlu(get_settings(), progress=True, force=force, folds=folds)
    except (TrainingDataError, ValueError) as exc:
        _fail(str(exc))
    for key, value in result.metrics.items():
        typer.echo(f"  {key}: {value}")
    if result.promoted:
        typer.secho(f"promoted {result.path.name}", fg=typer.colors.GREEN)
    else:
        typer.secho(f"NOT promoted {result.path.name}: worse than the model in service on "
                    + "; ".join(result.regressions) + " (use --force to promote anyway)", fg=typer.colors.RED)
        raise typer.Exit(1)


@nlu_app.command("test")
def nlu_test(folds: int = typer.Option(5, help="Cross-validation folds."),
             out: Path | None = typer.Option(None, help="Where the reports go (default: DATA_DIR/reports/nlu)."),
             as_json: bool = typer.Option(False, "--json", help="Print the intent report as JSON.")) -> None:
    """Cross-validate: intent_report.json, confusion_matrix_<axis>.png, histogram.png and errors.json."""
    from nlu.data import TrainingDataError, load_training_data
    from nlu.evaluate import cross_validate, write_reports

    settings = get_settings()
    out = out or Path(settings.data_dir) / "reports" / "nlu"
    if not as_json:
        typer.echo(f"reading training data from {settings.training_data_dir}")
    try:
        examples = load_training_data(settings.training_data_dir)
        cv = cross_validate(examples, folds=folds, progress=not as_json)
    except (TrainingDataError, ValueError) as exc:
        _fail(str(exc))
    report = write_reports(cv, out)
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    for axis, r in report.items():
        typer.echo(f"{axis:8s} macro-F1 {r['macro_f1']:.3f}  accuracy {r['accuracy']:.3f}  "
                   f"calibration error {r['expected_calibration_error']:.3f}  (n={r['n']})")
    _urgency_test(out)
    typer.echo(f"reports written to {out}/")


def _urgency_test(out: Path) -> None:
    """The model in service on the urgency sets nothing trains on, per kind (urgency_<set>.json)."""
    from nlu import builtin, urgency
    from nlu.training import urgency_report, urgency_sets, urgency_table

    path = builtin.current_path(get_settings().models_dir / "nlu")
    if path is None:
        typer.echo("urgency: no model in service yet (run `legalbot nlu train`)")
        return
    model = builtin.load(path)
    for name, data in urgency_sets().items():
        if not data.exists():
            continue
        report = urgency_report(urgency.load_labelled_jsonl(data), model)
        (out / f"urgency_{name}.json").write_text(json.dumps(report, ensure_ascii=False, indent=2))
        typer.echo(f"\nurgency on the {name} set ({data.name}):")
        typer.echo(urgency_table(report))


@nlu_app.command("review")
def nlu_review(days: int = typer.Option(30, help="Look back this many days."),
               out: Path | None = typer.Option(None, help="YAML file to write (default var/review/nlu-<date>.yml)."),
               limit: int = typer.Option(500),
               apply: Path | None = typer.Option(None, "--apply", help="Add a labelled review file to training_data/.")
               ) -> None:
    """What the bot got wrong in real traffic, written to YAML for a maintainer to label."""
    from nlu.review import ReviewError, collect, write_yaml
    from nlu.review import apply as apply_review

    if apply is not None:
        try:
            added = apply_review(apply, get_settings().training_data_dir)
        except (ReviewError, OSError) as exc:
            _fail(str(exc))
        typer.echo(f"added {added} labelled examples to training_data/nlu/reviewed.yml; now run `legalbot nlu train`")
        return
    runtime = _runtime()
    items = collect(runtime.store, days=days, limit=limit,
                    low_confidence=runtime.settings.nlu_fallback_threshold)
    path = out or Path(runtime.settings.data_dir) / "review" / f"nlu-{time.strftime('%Y%m%d')}.yml"
    write_yaml(items, path)
    typer.echo(f"{len(items)} messages to review written to {path}")


@nlu_app.command("rasa")
def nlu_rasa(port: int = typer.Option(5005), epochs: int | None = typer.Option(None, help="Override DIET's epochs."),
             out: Path = typer.Option(Path("var/rasa"), help="Where the Rasa model goes.")) -> None:
    """Install Rasa in its own Python 3.10 environment if needed, train it on training_data/, serve it.

    Then run the bot with LEGALBOT_NLU_BACKEND=rasa LEGALBOT_RASA_URL=http://127.0.0.1:PORT.
    """
    from nlu import rasa_server

    settings = get_settings()
    try:
        rasa_server.install()
        typer.echo("training Rasa (DIET, this takes minutes on a small machine)…")
        model = rasa_server.train(settings.training_data_dir / "nlu", settings.training_data_dir / "config.yml", out,
                                  epochs=epochs)
        server = rasa_server.RasaServer(model, port).start()
    except (rasa_server.RasaError, OSError) as exc:
        _fail(str(exc))
    typer.echo(f"Rasa serves {server.url}/model/parse; Ctrl-C stops it")
    try:
        assert server.process is not None
        server.process.wait()
    except KeyboardInterrupt:
        server.stop()


# ---- knowledge base -------------------------------------------------------------------------------

@kb_app.command("validate")
def kb_validate(statutes: Path | None = typer.Option(None, help="Folder of statute texts to check citations.")) -> None:
    """Schema, duplicates, repealed laws, cited articles that do not exist, stale reviews."""
    from knowledge_base.faq import FAQError, load_entries
    from knowledge_base.validate import default_statutes_dir, validate

    folder, statutes = get_settings().faq_dir, statutes or default_statutes_dir()
    typer.echo(f"reading entries from {folder}; statute texts from {statutes}")
    try:
        entries = load_entries(folder)
    except FAQError as exc:
        _fail(str(exc))
    report = validate(entries, statutes)
    for problem in report.errors:
        typer.secho(f"error: {problem}", fg=typer.colors.RED)
    for problem in report.warnings:
        typer.secho(f"warning: {problem}", fg=typer.colors.YELLOW)
    typer.echo(f"{len(entries)} entries, {len(report.errors)} errors, {len(report.warnings)} warnings"
               + ("" if report.statutes_checked else " (statute texts not found: articles not checked)"))
    if report.errors:
        raise typer.Exit(1)


@kb_app.command("build")
def kb_build() -> None:
    """Train the encoder, embed the FAQ and write a new index version (a running server picks it up)."""
    from bot.runtime import build_kb
    from knowledge_base.faq import FAQError

    settings = get_settings()
    typer.echo(f"reading entries from {settings.faq_dir}")
    try:
        build_kb(settings, progress=True)
    except FAQError as exc:
        _fail(str(exc))
    typer.echo(f"index built under {settings.index_dir}")


@kb_app.command("eval")
def kb_eval(queries: Path | None = typer.Option(None), as_json: bool = typer.Option(False, "--json")) -> None:
    """Recall@1, recall@3 and MRR on the held-out queries, for lexical, dense and fused retrieval."""
    from bot.runtime import ensure_built
    from knowledge_base.evaluate import default_queries_path, evaluate
    from knowledge_base.index import KnowledgeBase

    settings = get_settings()
    ensure_built(settings, progress=False)
    path = queries or default_queries_path()
    if not path.exists():
        _fail(f"no evaluation queries at {path}")
    report = evaluate(KnowledgeBase(settings.index_dir).index, path, threshold=settings.kb_answer_threshold)
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    typer.echo(f"queries {path}; index {settings.index_dir}")
    fused = report["modes"]["fused"]
    for miss in fused["misses"]:
        where = "not in the top 10" if miss["rank"] is None and miss["expected"] else (
            f"rank {miss['rank']}" if miss["expected"] else "out of scope but answered")
        typer.echo(f"  missed: {miss['text']}  expected {miss['expected'] or '-'}, got {miss['got']} "
                   f"({where}, score {miss['score']})")
    for mode, r in report["modes"].items():
        typer.echo(f"{mode:8s} R@1 {r['recall@1']:.3f}  R@3 {r['recall@3']:.3f}  MRR {r['mrr']:.3f}  "
                   f"OOS rejection {r['oos_rejection']:.3f}")
    out = Path(settings.data_dir) / "reports" / "kb_eval.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2))
    typer.echo(f"{len(fused['misses'])} fused misses listed above; report written to {out}")


@kb_app.command("export")
def kb_export(path: Path) -> None:
    """Write every FAQ entry to a .csv or .xlsx sheet for editors who do not use git."""
    from knowledge_base.faq import FAQError, load_entries
    from knowledge_base.spreadsheet import ImportError_, export

    try:
        entries = load_entries(get_settings().faq_dir)
        export(entries, path)
    except (FAQError, ImportError_) as exc:
        _fail(str(exc))
    typer.echo(f"exported {len(entries)} entries to {path}")


@kb_app.command("import")
def kb_import(path: Path, statutes: Path | None = typer.Option(None, help="Folder of statute texts.")) -> None:
    """Read a .csv or .xlsx sheet back into the FAQ files; nothing is written if any row is invalid."""
    from knowledge_base.faq import FAQError
    from knowledge_base.spreadsheet import ImportError_, import_sheet
    from knowledge_base.validate import default_statutes_dir

    try:
        report, written = import_sheet(path, get_settings().faq_dir, statutes or default_statutes_dir())
    except (FAQError, ImportError_, UnicodeDecodeError) as exc:
        _fail(str(exc))
    for problem in report.errors:
        typer.secho(f"error: {problem}", fg=typer.colors.RED)
    for problem in report.warnings:
        typer.secho(f"warning: {problem}", fg=typer.colors.YELLOW)
    if report.errors:
        _fail(f"{len(report.errors)} errors: nothing was imported")
    typer.echo(f"imported; rewrote {', '.join(sorted(written)) or 'no files'}. Run `legalbot kb build` to serve it.")


# ---- db and lawyers -------------------------------------------------------------------------------

@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations to the configured database."""
    from bot.store import Store

    Store(get_settings().resolved_database_url()).upgrade()
    typer.echo("database is up to date")


@lawyer_app.command("add")
def lawyer_add(username: str, display_name: str | None = typer.Option(None, "--name"),
               role: str = typer.Option("lawyer", help="lawyer, admin, or office (a back office's staff)."),
               office: str | None = typer.Option(None, "--office", metavar="ID",
                                                 help="For role office: its office's id in the city file."),
               password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True)) -> None:
    """Create a console account."""
    from handoff.auth import AccountError, create_lawyer
    from services.city import CityError, load_city

    if office is not None:
        city_file = get_settings().city_file
        try:
            city = load_city(city_file)
        except CityError as exc:
            typer.secho(f"warning: cannot check the office id against {city_file}: {exc.problems[0]}",
                        fg=typer.colors.YELLOW, err=True)
        else:
            if city.office(office) is None:
                _fail(f"no office {office!r} in {city_file}; its offices: "
                      + ", ".join(f"{o.id} ({o.name})" for o in city.offices))
    try:
        create_lawyer(_runtime().store, username, password, display_name=display_name, role=role, office=office)
    except AccountError as exc:
        _fail(str(exc))
    typer.echo(f"created {role} {username}" + (f" for office {office}" if office else ""))



def _store():  # type: ignore[no-untyped-def]
    """The database, migrated, without the models a runtime loads."""
    from bot.store import Store

    store = Store(get_settings().resolved_database_url())
    store.upgrade()
    return store


def _account(action, *args, store=None):  # type: ignore[no-untyped-def]
    """Run an account change from handoff/auth.py, turning its AccountError into a clear exit."""
    from handoff.auth import AccountError

    try:
        return action(store or _store(), *args)
    except AccountError as exc:
        _fail(str(exc))


@lawyer_app.command("passwd")
def lawyer_passwd(username: str,
                  password: str = typer.Option(..., prompt="New password", hide_input=True, confirmation_prompt=True)) -> None:
    """Set a lawyer's password; their console sessions end at once."""
    from handoff.auth import change_password

    _account(change_password, username, password)
    typer.echo(f"changed the password of {username}; their console sessions have ended")


@lawyer_app.command("deactivate")
def lawyer_deactivate(username: str) -> None:
    """Stop a lawyer from logging in; their console sessions end at once (`lawyer activate` undoes it)."""
    from handoff.auth import set_active

    _account(set_active, username, False)
    typer.echo(f"deactivated {username}; their console sessions have ended")


@lawyer_app.command("activate")
def lawyer_activate(username: str) -> None:
    """Let a deactivated lawyer log in again."""
    from handoff.auth import set_active

    _account(set_active, username, True)
    typer.echo(f"activated {username}")


@sessions_app.command("revoke")
def lawyer_sessions_revoke(username: str | None = typer.Argument(None),
                           everyone: bool = typer.Option(False, "--all", help="End every lawyer's sessions.")) -> None:
    """End a lawyer's console sessions (or everyone's, with --all): they must log in again."""
    from handoff.auth import lawyer_named
    from handoff.sessions import end_sessions

    if everyone == (username is not None):
        _fail("give a USERNAME or --all")
    store = _store()
    lawyer_id = None if everyone else _account(lawyer_named, username, store=store).id
    ended = end_sessions(store, lawyer_id, reason="cli")
    typer.echo(f"ended {ended} console session(s)" + ("" if everyone else f" of {username}"))


@lawyer_app.command("telegram-link")
def lawyer_telegram_link(username: str) -> None:
    """A one-time code (15 minutes) that links a lawyer's Telegram account: they send /link CODE to the bot."""
    from sqlmodel import select

    from bot.store import Lawyer
    from handoff.auth import AccountError, issue_telegram_link

    store = _runtime().store
    with store.session() as session:
        lawyer_id = session.exec(select(Lawyer.id).where(Lawyer.username == username)).first()
    if lawyer_id is None:
        _fail(f"no lawyer named {username!r}")
    try:
        code = issue_telegram_link(store, lawyer_id)  # type: ignore[arg-type]
    except AccountError as exc:
        _fail(str(exc))
    typer.echo(f"{username}: send this to the bot on Telegram within 15 minutes:\n/link {code}")


# ---- reports ----------------------------------------------------------------------------------------

def _report_scope(settings, since: str, until: str, **filters: str | None):  # type: ignore[no-untyped-def]
    """The conversations a report counts; a bad date or range exits with code 2 and the reason."""
    import datetime as dt

    from reports.metrics import Scope, ScopeError

    try:
        first, last = dt.date.fromisoformat(since), dt.date.fromisoformat(until)
    except ValueError:
        _fail(f"--since and --until must be dates as YYYY-MM-DD (got {since!r}, {until!r})", code=2)
    try:
        return Scope(first, last, settings.timezone, **filters)  # type: ignore[arg-type]
    except ScopeError as exc:
        _fail(str(exc), code=2)


@app.command()
def report(since: str = typer.Option(..., help="First local day, YYYY-MM-DD."),
           until: str = typer.Option(..., help="Last local day, YYYY-MM-DD (included)."),
           fmt: str = typer.Option("csv", "--format", help="csv, xlsx, json, or html (the report to forward)."),
           by: str = typer.Option("day", help="day, service, topic, channel or district."),
           out: Path | None = typer.Option(None, help="File to write (default: standard output; xlsx needs a file)."),
           channel: str | None = typer.Option(None), service: str | None = typer.Option(None),
           topic: str | None = typer.Option(None), district: str | None = typer.Option(None),
           language: str | None = typer.Option(None)) -> None:
    """The bureau's figures per day (or service, topic, channel, district) with a total row; columns in docs/reports.md.

    ``--format html``: the page a bureau forwards (reports/weekly.py): key figures against the period before,
    charts and tables, self-contained."""
    import sys

    from reports import export, metrics

    if fmt not in (*export.FORMATS, "html"):
        _fail(f"--format must be csv, xlsx, json or html (got {fmt!r})", code=2)
    if by not in metrics.BREAKDOWNS:
        _fail(f"--by must be one of {', '.join(metrics.BREAKDOWNS)} (got {by!r})", code=2)
    if fmt == "xlsx" and out is None:
        _fail("an xlsx report needs a file: add --out report.xlsx", code=2)
    settings = get_settings()
    scope = _report_scope(settings, since, until, channel=channel, service=service, topic=topic, district=district,
                          language=language)
    store = _store()
    try:
        with store.reader() as session:
            if fmt == "html":
                from reports import weekly
                from services import applications as apps

                page = weekly.render(session, scope, sla_minutes=settings.sla_escalate_minutes,
                                     reopen_days=settings.reopen_window_days, forms=apps.forms())
            else:
                rows = metrics.report_rows(session, scope, by, sla_minutes=settings.sla_escalate_minutes,
                                           reopen_days=settings.reopen_window_days)
    finally:
        store.dispose()
    if fmt == "html":
        body, told = page.encode("utf-8"), f"the report for {since} to {until}"
    else:
        body = export.render(rows, fmt, by, {"since": since, "until": until, "timezone": scope.timezone,
                                             "filters": scope.filters()})
        told = f"{len(rows) - 1} rows and a total"
    if out is None:
        sys.stdout.buffer.write(body.removeprefix("\ufeff".encode()) if fmt == "csv" else body)
        sys.stdout.buffer.flush()
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(body)
        typer.echo(f"{told} written to {out}", err=True)


@app.command("report-gaps")
def report_gaps(since: str = typer.Option(..., help="First local day, YYYY-MM-DD."),
                until: str = typer.Option(..., help="Last local day, YYYY-MM-DD (included)."),
                out_dir: Path = typer.Option(Path("."), "--out-dir", help="Folder for the two files."),
                limit: int = typer.Option(1000, help="Cluster at most this many of the most recent questions (≤ 3000)."),
                channel: str | None = typer.Option(None), service: str | None = typer.Option(None),
                topic: str | None = typer.Option(None), district: str | None = typer.Option(None),
                language: str | None = typer.Option(None)) -> None:
    """Content gaps: the questions the bot did not answer well, clustered; writes a review YAML for
    `legalbot nlu review --apply` and a kb-gaps CSV for new FAQ entries (docs/reports.md)."""

    from reports import gaps

    if not 1 <= limit <= gaps.MAX_LIMIT:
        _fail(f"--limit must be between 1 and {gaps.MAX_LIMIT} (got {limit})", code=2)
    settings = get_settings()
    scope = _report_scope(settings, since, until, channel=channel, service=service, topic=topic, district=district,
                          language=language)
    store = _store()
    try:
        with store.reader() as session:
            result = gaps.gaps(session, scope, limit, low_confidence=settings.nlu_fallback_threshold,
                               background=gaps.background_texts(settings.training_data_dir))
    finally:
        store.dispose()
    try:
        review_file, table = gaps.write(result, out_dir)
    except OSError as exc:
        _fail(f"cannot write to {out_dir}: {exc}")
    typer.echo(f"{result.questions} questions in {len(result.clusters)} clusters"
               + (" (the most recent only: raise --limit for more)" if result.truncated else ""))
    typer.echo(f"review file (fill in `label`, then `legalbot nlu review --apply {review_file}`): {review_file}")
    typer.echo(f"kb-gaps list (one row per cluster, for new FAQ entries): {table}")



# ---- legal calculators ----------------------------------------------------------------------------

@app.command()
def calc(kind: str = typer.Argument(..., help="severance, overtime, litigation_fee … (see the error for all)."),
         values: list[str] | None = typer.Argument(None, help="field=value pairs, e.g. monthly_wage=1.2万 years_of_service=8年3个月."),
         as_json: bool = typer.Option(False, "--json", help="One JSON object per stdin line in, one per line out."),
         figures: Path | None = typer.Option(None, "--figures", help="Default: LEGALBOT_CALCULATOR_FIGURES.")) -> None:
    """Legal calculators: from field=value arguments, or one JSON object of inputs per stdin line. A line that
    cannot be calculated gets {"error", "field"} and the others go on; the exit code is 1 if any failed."""
    from calculators import KINDS, CalcError, FiguresError, calculate, load_figures

    if kind not in KINDS:
        _fail(f"unknown calculator {kind!r}; one of: {', '.join(KINDS)}", code=2)
    try:
        table = load_figures(figures or get_settings().calculator_figures)
    except FiguresError as exc:
        _fail(str(exc))
        raise typer.Exit(1) from None
    failed = False
    for inputs in _calc_inputs(values):
        try:
            if isinstance(inputs, CalcError):
                raise inputs
            result = calculate(kind, inputs, table)
        except CalcError as exc:
            failed = True
            if as_json:
                typer.echo(json.dumps({"error": str(exc), "field": exc.field}, ensure_ascii=False))
            else:
                typer.secho(f"error: {exc} ({exc.message_zh})", fg=typer.colors.RED, err=True)
            continue
        if as_json:
            typer.echo(json.dumps(result.to_json(), ensure_ascii=False))
        else:
            typer.echo(_worked(result))
    if failed:
        raise typer.Exit(1)


def _calc_inputs(values: list[str] | None):  # type: ignore[no-untyped-def]
    """The inputs of each calculation: one from field=value arguments, or one per JSON line on stdin
    (numbers read as decimals, never floats); a line that is not a JSON object yields a CalcError."""
    from decimal import Decimal

    from calculators import CalcError

    if values:
        pairs = [v.partition("=") for v in values]
        bad = [v for v, (_, eq, _) in zip(values, pairs, strict=True) if not eq]
        yield CalcError(bad[0], "expected field=value") if bad else {k.strip(): v for k, _, v in pairs}
        return
    for n, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            inputs = json.loads(line, parse_float=Decimal)
        except ValueError as exc:
            yield CalcError("input", f"line {n}: not JSON: {exc}", f"第{n}行不是JSON")
            continue
        yield inputs if isinstance(inputs, dict) else CalcError("input", f"line {n}: expected a JSON object",
                                                                 f"第{n}行应当是JSON对象")


def _worked(result) -> str:  # type: ignore[no-untyped-def]
    """A result as a person reads it: the steps, the amount, the articles, assumptions and warnings."""
    lines = [f"{result.kind}: {result.amount:,} {result.currency}"]
    lines += [f"  {n}. {step.text_zh}" for n, step in enumerate(result.steps, 1)]
    lines.append("依据: " + "；".join(result.legal_basis))
    lines += ["说明: " + a.zh for a in result.assumptions]
    lines += [f"数据: {f['label']} {f['area']} {f['year']}年 {f['value']}{f['unit']}（{f['source']}）" for f in result.figures]
    lines += ["注意: " + w.zh for w in result.warnings]
    return "\n".join(lines)


if __name__ == "__main__":
    app()
