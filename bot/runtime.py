"""Wires settings, storage, NLU, knowledge base, engine and queue together, building what is missing."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.engine import Engine
from bot.settings import Settings
from bot.store import Store, private_dir
from handoff.queue import HandoffQueue
from knowledge_base import index as kb_index
from knowledge_base.faq import load_entries
from knowledge_base.index import KnowledgeBase
from nlu import builtin
from nlu.backend import NLUBackend
from nlu.classifier import Classifier
from nlu.data import load_training_data
from nlu.training import TrainResult, train_and_promote

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    store: Store
    engine: Engine
    queue: HandoffQueue
    kb: KnowledgeBase
    nlu: NLUBackend


def train_nlu(settings: Settings, progress: bool = False, force: bool = False, folds: int = 5) -> TrainResult:
    return train_and_promote(settings.training_data_dir, settings.models_dir / "nlu", folds=folds, force=force,
                             progress=progress)


def build_kb(settings: Settings, progress: bool = False) -> None:
    entries = load_entries(settings.faq_dir)
    try:
        vocabulary = [ex.text for ex in load_training_data(settings.training_data_dir)]
    except Exception:  # the encoder only borrows words from the training data; it does not need it
        vocabulary = []
    kb_index.build(entries, settings.index_dir, encoder_model=settings.encoder_model, progress=progress,
                   vocabulary_texts=vocabulary, semantic=settings.kb_semantic)


def ensure_built(settings: Settings, progress: bool = True) -> None:
    """Train the NLU model and build the index if either is missing (what `make run` relies on)."""
    private_dir(settings.data_dir)
    # The built-in model is trained whatever the backend: its learned urgency serves Rasa deployments too.
    if builtin.current_path(settings.models_dir / "nlu") is None:
        log.info("no NLU model yet: training one from %s", settings.training_data_dir)
        train_nlu(settings, progress=progress, folds=0)
    if kb_index.current_path(settings.index_dir) is None:
        log.info("no knowledge base index yet: building one from %s", settings.faq_dir)
        build_kb(settings, progress=progress)


def make_backend(settings: Settings) -> NLUBackend:
    if settings.nlu_backend == "rasa":
        from nlu.rasa import RasaBackend

        return RasaBackend(settings.rasa_url)
    if settings.nlu_backend != "builtin":
        raise ValueError(f"unknown NLU backend {settings.nlu_backend!r}: use 'builtin' or 'rasa'")
    return builtin.BuiltinBackend(settings.models_dir / "nlu")


def build_runtime(settings: Settings, backend: NLUBackend | None = None, kb: KnowledgeBase | None = None,
                  upgrade: bool = True) -> Runtime:
    private_dir(settings.data_dir)  # the database, the generated secret key and the reports live here
    store = Store(settings.resolved_database_url())
    if upgrade:
        store.upgrade()
    backend = backend or make_backend(settings)
    kb = kb or KnowledgeBase(settings.index_dir)
    urgency_source = backend if isinstance(backend, builtin.BuiltinBackend) else builtin.BuiltinBackend(
        settings.models_dir / "nlu")
    classifier = Classifier(backend, amount_limit=settings.complex_amount_limit, urgency_source=urgency_source)
    engine = Engine(store, classifier, kb, settings)
    return Runtime(settings=settings, store=store, engine=engine, queue=HandoffQueue(store), kb=kb, nlu=backend)
